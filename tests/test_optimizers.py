"""Tests of gru_py.optimizers against Keras 3's update rules (API_SPEC 5).

Every optimizer and option runs three steps from a fixed random state and is compared
with an independent float64 NumPy implementation of Keras' formulas written below, both
for the weights and for the slot arrays (``optimizer.variables``). The rest covers the
optimizer lifecycle: building, in-place updates, iterations, learning rates and
schedules, argument checks, None and malformed gradients, configs and ``get()``.
"""

import json
import math
import warnings

import numpy as np
import pytest

from gru_py import optimizers
from gru_py.optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, schedules

SHAPES = [(4, 3), (3,), (2, 2, 2)]
# Per-step gradient magnitudes: the small second step makes Adam's v shrink somewhere,
# so that amsgrad's v_hat differs from v. The last tensor's gradients are 10x smaller,
# so that clipnorm leaves it alone while clipping the others.
STEP_SCALES = [1.0, 0.02, 0.3]
TENSOR_SCALES = [1.0, 1.0, 0.1]


def make_problem(seed=1234):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
    grads = [
        [(rng.normal(size=s) * step * tensor).astype(np.float32)
         for s, tensor in zip(SHAPES, TENSOR_SCALES)]
        for step in STEP_SCALES
    ]
    return weights, grads


# -- the float64 reference ------------------------------------------------------------

def ref_clip(grads, hp):
    if hp.get("clipnorm"):
        c = hp["clipnorm"]
        return [g * c / max(np.sqrt(np.sum(g * g)), c) for g in grads]
    if hp.get("global_clipnorm"):
        c = hp["global_clipnorm"]
        norm = np.sqrt(sum(np.sum(g * g) for g in grads))
        return [g * (c * min(1.0 / norm, 1.0 / c)) for g in grads]
    if hp.get("clipvalue"):
        v = hp["clipvalue"]
        return [np.clip(g, -v, v) for g in grads]
    return grads


def ref_slot_names(kind, hp):
    if kind == "sgd":
        return ["momentum"] if hp.get("momentum", 0.0) else []
    if kind == "adam":
        return ["momentum", "velocity"] + (["velocity_hat"] if hp.get("amsgrad") else [])
    if kind == "rmsprop":
        names = ["velocity"]
        if hp.get("momentum", 0.0) > 0:
            names.append("momentum")
        if hp.get("centered"):
            names.append("average_gradient")
        return names
    return ["accumulator"]


def reference_run(kind, hp, weights, grad_steps, lrs):
    """Keras 3's optimizer step, in float64, written from API_SPEC 5. Returns the
    weights and the slots in Keras' order (all of one slot kind, then the next)."""
    ws = [w.astype(np.float64) for w in weights]
    names = ref_slot_names(kind, hp)
    init = hp.get("initial_accumulator_value", 0.1) if kind == "adagrad" else 0.0
    slots = {n: [np.full(w.shape, init) for w in ws] for n in names}
    for t, (grads, lr) in enumerate(zip(grad_steps, lrs), start=1):
        grads = ref_clip([g.astype(np.float64) for g in grads], hp)
        for i, (w, g) in enumerate(zip(ws, grads)):
            if hp.get("weight_decay"):
                w -= w * hp["weight_decay"] * lr
            if kind == "sgd":
                mu = hp.get("momentum", 0.0)
                if mu:
                    m = slots["momentum"][i]
                    m[...] = mu * m - lr * g
                    w += mu * m - lr * g if hp.get("nesterov") else m
                else:
                    w -= lr * g
            elif kind == "adam":
                b1, b2 = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999)
                eps = hp.get("epsilon", 1e-7)
                m, v = slots["momentum"][i], slots["velocity"][i]
                m += (g - m) * (1 - b1)
                v += (g * g - v) * (1 - b2)
                second = v
                if hp.get("amsgrad"):
                    vh = slots["velocity_hat"][i]
                    vh[...] = np.maximum(vh, v)
                    second = vh
                alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                w -= alpha * m / (np.sqrt(second) + eps)
            elif kind == "rmsprop":
                rho, mu = hp.get("rho", 0.9), hp.get("momentum", 0.0)
                eps = hp.get("epsilon", 1e-7)
                v = slots["velocity"][i]
                v[...] = rho * v + (1 - rho) * g * g
                if hp.get("centered"):
                    a = slots["average_gradient"][i]
                    a[...] = rho * a + (1 - rho) * g
                    den = v - a * a + eps
                else:
                    den = v + eps
                inc = lr * g / np.sqrt(den)
                if mu > 0:
                    mom = slots["momentum"][i]
                    mom[...] = mu * mom + inc
                    w -= mom
                else:
                    w -= inc
            else:
                acc = slots["accumulator"][i]
                acc += g * g
                w -= lr * g / np.sqrt(acc + hp.get("epsilon", 1e-7))
    return ws, [a for n in names for a in slots[n]], [n for n in names for _ in ws]


def assert_close(got, want, tol=1e-6, what="array"):
    """Max absolute error within tol times the reference's scale."""
    got = np.asarray(got, dtype=np.float64)
    scale = max(float(np.max(np.abs(want))), 1e-30)
    err = float(np.max(np.abs(got - want)))
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol} * scale {scale:.3g}"


# -- every optimizer and option against the reference ---------------------------------

LR = 0.05
CASES = [
    # id, constructor, reference kind, reference hyperparameters, learning rates per step
    ("sgd", lambda: SGD(LR), "sgd", {}, None),
    ("sgd_momentum", lambda: SGD(LR, momentum=0.9), "sgd", {"momentum": 0.9}, None),
    ("sgd_nesterov", lambda: SGD(LR, momentum=0.9, nesterov=True), "sgd",
     {"momentum": 0.9, "nesterov": True}, None),
    ("sgd_weight_decay", lambda: SGD(LR, momentum=0.5, weight_decay=0.1), "sgd",
     {"momentum": 0.5, "weight_decay": 0.1}, None),
    ("sgd_clipvalue", lambda: SGD(LR, momentum=0.9, clipvalue=0.5), "sgd",
     {"momentum": 0.9, "clipvalue": 0.5}, None),
    ("adam", lambda: Adam(LR), "adam", {}, None),
    ("adam_amsgrad", lambda: Adam(LR, amsgrad=True), "adam", {"amsgrad": True}, None),
    ("adam_hyper", lambda: Adam(LR, beta_1=0.8, beta_2=0.99, epsilon=1e-3), "adam",
     {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3}, None),
    ("adam_weight_decay", lambda: Adam(LR, weight_decay=0.2), "adam",
     {"weight_decay": 0.2}, None),
    ("adam_clipnorm", lambda: Adam(LR, clipnorm=1.0), "adam", {"clipnorm": 1.0}, None),
    ("adamw", lambda: AdamW(LR, weight_decay=0.3), "adam", {"weight_decay": 0.3}, None),
    ("adamw_default_decay_amsgrad", lambda: AdamW(LR, amsgrad=True), "adam",
     {"weight_decay": 0.004, "amsgrad": True}, None),
    ("rmsprop", lambda: RMSprop(LR), "rmsprop", {}, None),
    ("rmsprop_momentum", lambda: RMSprop(LR, momentum=0.5), "rmsprop", {"momentum": 0.5}, None),
    ("rmsprop_centered", lambda: RMSprop(LR, centered=True), "rmsprop", {"centered": True},
     None),
    ("rmsprop_centered_momentum",
     lambda: RMSprop(LR, rho=0.8, momentum=0.3, epsilon=1e-4, centered=True), "rmsprop",
     {"rho": 0.8, "momentum": 0.3, "epsilon": 1e-4, "centered": True}, None),
    ("rmsprop_global_clipnorm", lambda: RMSprop(LR, global_clipnorm=2.0), "rmsprop",
     {"global_clipnorm": 2.0}, None),
    ("rmsprop_weight_decay", lambda: RMSprop(LR, weight_decay=0.1), "rmsprop",
     {"weight_decay": 0.1}, None),
    ("adagrad", lambda: Adagrad(LR), "adagrad", {}, None),
    ("adagrad_hyper", lambda: Adagrad(LR, initial_accumulator_value=0.5, epsilon=1e-3),
     "adagrad", {"initial_accumulator_value": 0.5, "epsilon": 1e-3}, None),
    ("adagrad_clipnorm", lambda: Adagrad(LR, clipnorm=0.8), "adagrad", {"clipnorm": 0.8}, None),
    ("adagrad_global_clipnorm_decay", lambda: Adagrad(LR, global_clipnorm=1.5, weight_decay=0.1),
     "adagrad", {"global_clipnorm": 1.5, "weight_decay": 0.1}, None),
    ("sgd_exponential_schedule",
     lambda: SGD(schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5), momentum=0.9),
     "sgd", {"momentum": 0.9}, [0.1 * 0.5 ** t for t in range(3)]),
    ("adam_piecewise_schedule",
     lambda: Adam(schedules.PiecewiseConstantDecay([0, 1], [0.01, 0.005, 0.001])), "adam", {},
     [0.01, 0.005, 0.001]),
    ("adamw_cosine_schedule",
     lambda: AdamW(schedules.CosineDecay(0.02, decay_steps=4), weight_decay=0.5), "adam",
     {"weight_decay": 0.5}, [0.02 * 0.5 * (1 + math.cos(math.pi * t / 4)) for t in range(3)]),
    ("rmsprop_callable_lr", lambda: RMSprop(lambda: 0.03, clipvalue=0.4), "rmsprop",
     {"clipvalue": 0.4}, [0.03] * 3),
]


@pytest.mark.parametrize("make, kind, hp, lrs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_three_steps_match_keras_formula(make, kind, hp, lrs):
    weights, grad_steps = make_problem()
    start = [w.copy() for w in weights]
    opt = make()
    for grads in grad_steps:
        opt.apply_gradients(zip(grads, weights))
    want_w, want_slots, names = reference_run(kind, hp, start, grad_steps, lrs or [LR] * 3)
    for i, (got, want) in enumerate(zip(weights, want_w)):
        assert_close(got, want, what=f"weight {i}")
    assert len(opt.variables) == len(want_slots)
    for i, (got, want, name) in enumerate(zip(opt.variables, want_slots, names)):
        assert got.dtype == np.float32
        assert_close(got, want, tol=1e-6, what=f"slot {i} ({name})")
    assert opt.iterations == 3


def test_the_reference_cases_exercise_their_options():
    """Guards the comparisons above against being vacuous: clipping really clips,
    amsgrad's v_hat really differs from v, weight decay really changes the result."""
    weights, grad_steps = make_problem()
    norms = [np.sqrt(np.sum(g.astype(np.float64) ** 2)) for g in grad_steps[0]]
    assert norms[0] > 1.0 and norms[2] < 0.8  # clipnorm 1.0 / 0.8: clipped and not
    assert np.sqrt(sum(n * n for n in norms)) > 2.0  # global_clipnorm 2.0 clips
    assert np.abs(grad_steps[0][0]).max() > 0.5  # clipvalue 0.5 clips
    _, slots, _ = reference_run("adam", {"amsgrad": True}, weights, grad_steps, [LR] * 3)
    v, v_hat = slots[3:6], slots[6:9]
    assert any(np.any(h > x) for h, x in zip(v_hat, v))
    plain = reference_run("adam", {}, weights, grad_steps, [LR] * 3)[0]
    decayed = reference_run("adam", {"weight_decay": 0.2}, weights, grad_steps, [LR] * 3)[0]
    assert not np.allclose(plain[0], decayed[0], rtol=0, atol=1e-4)


def test_adam_velocity_matches_keras_float32_factor():
    # Keras forms 1 - beta_2 in double and then rounds; 1 - float32(0.999) would be
    # 1.3e-5 (relative) off.
    var = np.zeros(1, np.float32)
    opt = Adam(0.001)
    opt.apply([np.ones(1, np.float32)], [var])
    # v = (g^2 - 0) * (1 - beta_2), with Keras' factor float32(1 - 0.999) == 0.001.
    assert opt.variables[1][0] == np.float32(1 - 0.999)


def test_keras_rmsprop_docstring_example():
    # Keras' RMSprop example: loss var^2 / 2 (gradient = var), lr 0.1, from 10.0.
    var = np.array(10.0, dtype=np.float32)
    RMSprop(learning_rate=0.1).apply([var.copy()], [var])
    assert float(var) == pytest.approx(9.683772, abs=1e-6)


# -- lifecycle --------------------------------------------------------------------------

def test_updates_in_place_and_keeps_slot_objects():
    weights, grad_steps = make_problem()
    ids = [id(w) for w in weights]
    opt = Adam(0.01)
    opt.apply(grad_steps[0], weights)
    slots = opt.variables
    before = [w.copy() for w in weights]
    opt.apply(grad_steps[1])  # variables=None: the built list
    assert [id(w) for w in weights] == ids
    assert all(a is b for a, b in zip(opt.variables, slots))
    assert all(not np.array_equal(a, b) for a, b in zip(weights, before))


def test_iterations_count_and_apply_gradients_returns_them():
    weights, grad_steps = make_problem()
    opt = SGD(0.1)
    assert opt.iterations == 0 and not opt.built
    for k, grads in enumerate(grad_steps, start=1):
        assert opt.apply_gradients(zip(grads, weights)) == k
        assert opt.iterations == k
    assert opt.built


def test_build_creates_slots_once():
    weights, _ = make_problem()
    opt = Adagrad(initial_accumulator_value=0.25)
    assert opt.variables == []
    opt.build(weights)
    assert [s.shape for s in opt.variables] == SHAPES
    assert all(np.all(s == np.float32(0.25)) and s.dtype == np.float32 for s in opt.variables)
    slots = opt.variables
    opt.build(weights)  # a second build does nothing, as in Keras
    assert all(a is b for a, b in zip(opt.variables, slots))


@pytest.mark.parametrize("make, n_slots", [
    (lambda: SGD(), 0), (lambda: SGD(momentum=0.5), 3), (lambda: Adam(), 6),
    (lambda: Adam(amsgrad=True), 9), (lambda: RMSprop(), 3), (lambda: RMSprop(momentum=0.1), 6),
    (lambda: RMSprop(momentum=0.1, centered=True), 9), (lambda: Adagrad(), 3),
])
def test_slot_counts(make, n_slots):
    opt = make()
    opt.build(make_problem()[0])
    assert len(opt.variables) == n_slots


def test_empty_gradient_list_is_a_no_op():
    opt = SGD()
    opt.apply([])
    assert opt.apply_gradients([]) == 0
    assert opt.iterations == 0


def test_build_rejects_arrays_it_cannot_update_in_place():
    with pytest.raises(TypeError, match=r"variables\[1\].*float32.*float64"):
        SGD().build([np.zeros(3, np.float32), np.zeros(3)])
    with pytest.raises(TypeError, match=r"variables\[0\].*list"):
        SGD().build([[1.0, 2.0]])
    with pytest.raises(TypeError, match="C-contiguous"):
        SGD().build([np.zeros((3, 4), np.float32).T])
    w = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"variables\[1\] is the same array as variables\[0\]"):
        SGD().build([w, w])


def test_unknown_variable_and_unbuilt_apply_raise():
    weights, grad_steps = make_problem()
    opt = SGD()
    with pytest.raises(ValueError, match="must already be built"):
        opt.apply(grad_steps[0])
    opt.build(weights[:2])
    with pytest.raises(ValueError, match="unknown variable at index 2"):
        opt.apply(grad_steps[0], weights)
    with pytest.raises(ValueError, match="got 3 gradients, but the optimizer was built with 2"):
        opt.apply(grad_steps[0])
    with pytest.raises(ValueError, match="got 2 gradients for 3 variables"):
        opt.apply(grad_steps[0][:2], weights)


def test_subset_and_reordered_variables_use_their_own_slots():
    weights, grad_steps = make_problem()
    ref_weights = [w.copy() for w in weights]
    opt, ref = SGD(0.1, momentum=0.9), SGD(0.1, momentum=0.9)
    opt.build(weights)
    ref.build(ref_weights)
    opt.apply(grad_steps[0][::-1], weights[::-1])
    ref.apply(grad_steps[0], ref_weights)
    for a, b in zip(weights + opt.variables, ref_weights + ref.variables):
        np.testing.assert_array_equal(a, b)
    opt.apply([grad_steps[1][1]], [weights[1]])
    assert opt.iterations == 2


def test_none_gradients_are_skipped_with_a_warning():
    weights, grad_steps = make_problem()
    before = [w.copy() for w in weights]
    opt = Adam(0.01)
    with pytest.warns(UserWarning, match=r"Gradients do not exist for variables at indices \[1\]"):
        opt.apply([grad_steps[0][0], None, grad_steps[0][2]], weights)
    np.testing.assert_array_equal(weights[1], before[1])
    assert not np.array_equal(weights[0], before[0])
    assert np.all(opt.variables[1] == 0) and np.all(opt.variables[4] == 0)  # its m and v
    assert opt.iterations == 1
    with pytest.raises(ValueError, match="no gradients provided for any variable"):
        opt.apply([None, None, None], weights)
    assert opt.iterations == 1


def test_global_clipnorm_ignores_none_gradients():
    weights, grad_steps = make_problem()
    start = [w.copy() for w in weights]
    opt = SGD(LR, global_clipnorm=1.0)
    with pytest.warns(UserWarning):
        opt.apply([grad_steps[0][0], None, grad_steps[0][2]], weights)
    kept = [grad_steps[0][0], grad_steps[0][2]]
    want = reference_run("sgd", {"global_clipnorm": 1.0}, [start[0], start[2]], [kept], [LR])[0]
    assert_close(weights[0], want[0])
    assert_close(weights[2], want[1])


def test_bad_gradient_shape_names_index_and_shapes_and_updates_nothing():
    weights, grad_steps = make_problem()
    before = [w.copy() for w in weights]
    opt = SGD(0.1, momentum=0.9)
    grads = list(grad_steps[0])
    grads[2] = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"index 2 has shape \(2, 4\).*shape \(2, 2, 2\)"):
        opt.apply(grads, weights)
    for w, b in zip(weights, before):
        np.testing.assert_array_equal(w, b)
    assert opt.iterations == 0
    with pytest.raises(TypeError, match="index 0 must be real-valued"):
        opt.apply([np.array(["a"] * 12).reshape(4, 3)] + grads[1:2], weights[:2])


def test_gradients_of_other_dtypes_and_lists_are_converted():
    w64 = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    w_list = w64.copy()
    SGD(0.5).apply([np.array([1.0, 1.0, 1.0])], [w64])
    SGD(0.5).apply([[1, 1, 1]], [w_list])
    np.testing.assert_array_equal(w64, [0.5, -2.5, 2.5])
    np.testing.assert_array_equal(w_list, w64)


def test_zero_gradient_with_clipnorm_stays_finite():
    for opt in (SGD(0.1, clipnorm=1.0), Adam(0.1, global_clipnorm=1.0)):
        w = np.ones(4, np.float32)
        opt.apply([np.zeros(4, np.float32)], [w])
        np.testing.assert_array_equal(w, np.ones(4))


def test_small_gradients_are_not_scaled_by_clipnorm():
    w, ref = np.ones(3, np.float32), np.ones(3, np.float32)
    g = np.array([0.1, -0.2, 0.05], np.float32)
    SGD(1.0, clipnorm=5.0).apply([g], [w])
    SGD(1.0, global_clipnorm=5.0).apply([g], [ref])
    np.testing.assert_allclose(w, 1.0 - g, rtol=1e-7)
    np.testing.assert_allclose(ref, 1.0 - g, rtol=1e-7)


def test_non_positive_clip_arguments_are_off_as_in_keras():
    w, ref = np.ones(3, np.float32), np.ones(3, np.float32)
    g = np.array([3.0, -4.0, 12.0], np.float32)
    SGD(0.1, clipnorm=0.0).apply([g], [w])
    SGD(0.1).apply([g], [ref])
    np.testing.assert_array_equal(w, ref)


# -- learning rates ----------------------------------------------------------------------

def test_learning_rate_get_set_and_used_by_the_next_step():
    opt = SGD(0.1)
    assert opt.learning_rate == 0.1
    opt.learning_rate = 0.25
    assert opt.learning_rate == 0.25
    w = np.zeros(2, np.float32)
    opt.apply([np.ones(2, np.float32)], [w])
    np.testing.assert_array_equal(w, [-0.25, -0.25])
    opt.learning_rate = 1  # ints are accepted (as floats)
    assert opt.learning_rate == 1.0 and isinstance(opt.learning_rate, float)


def test_schedule_learning_rate_follows_iterations_and_is_not_settable():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    opt = Adam(schedule)
    w = np.ones(3, np.float32)
    for step in range(4):
        assert opt.learning_rate == pytest.approx(0.1 * 0.5 ** (step / 2), rel=1e-12)
        opt.apply([np.ones(3, np.float32)], [w])
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.01
    other = schedules.PiecewiseConstantDecay([10], [0.3, 0.2])
    opt.learning_rate = other  # replacing a schedule by a schedule is allowed
    assert opt.learning_rate == 0.3  # iterations is 4 <= 10


def test_float_optimizer_accepts_schedule_and_callable():
    opt = SGD(0.1)
    opt.learning_rate = schedules.InverseTimeDecay(1.0, decay_steps=1, decay_rate=1.0)
    assert opt.learning_rate == 1.0
    opt.learning_rate = lambda: 0.125
    assert opt.learning_rate == 0.125
    opt.learning_rate = 0.5  # a callable is not a schedule: a float may replace it
    assert opt.learning_rate == 0.5


@pytest.mark.parametrize("bad", ["fast", None, True, [0.1]])
def test_bad_learning_rate_raises(bad):
    with pytest.raises(ValueError, match="learning_rate must be a float"):
        SGD(bad)
    opt = SGD()
    with pytest.raises(ValueError, match="learning_rate must be a float"):
        opt.learning_rate = bad


# -- constructor arguments ---------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"clipnorm": 1.0, "clipvalue": 1.0}, {"clipnorm": 1.0, "global_clipnorm": 1.0},
    {"clipvalue": 1.0, "global_clipnorm": 1.0},
    {"clipnorm": 1.0, "clipvalue": 1.0, "global_clipnorm": 1.0},
])
@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop, Adagrad])
def test_at_most_one_clip_argument(cls, kwargs):
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        cls(**kwargs)


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"use_ema": True}, NotImplementedError, "use_ema=True is not supported yet"),
    ({"loss_scale_factor": 128.0}, NotImplementedError, "loss_scale_factor=128.0"),
    ({"gradient_accumulation_steps": 4}, NotImplementedError, "gradient_accumulation_steps=4"),
    ({"gradient_accumulation_steps": 1}, ValueError, "must be an integer >= 2, got 1"),
    ({"foo": 1}, ValueError, r"not recognized: \{'foo': 1\}"),
    ({"clipnorm": "big"}, TypeError, "clipnorm must be a number or None, got 'big'"),
    ({"weight_decay": float("nan")}, ValueError, "weight_decay must be finite"),
    ({"name": 3}, TypeError, "name must be a string or None"),
])
@pytest.mark.parametrize("cls", [SGD, Adam, RMSprop, Adagrad])
def test_common_argument_checks(cls, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        cls(**kwargs)


def test_decay_argument_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="`decay` is no longer supported"):
        opt = SGD(0.1, decay=0.01)
    assert "decay" not in opt.get_config()


@pytest.mark.parametrize("make, pattern", [
    (lambda: SGD(momentum=-0.1), r"momentum must be in \[0.0, 1.0\], got -0.1"),
    (lambda: SGD(momentum=1.5), r"momentum must be in \[0.0, 1.0\], got 1.5"),
    (lambda: Adam(beta_1=1.0), r"beta_1 must be in \[0.0, 1.0\)"),
    (lambda: Adam(beta_2=-0.5), r"beta_2 must be in \[0.0, 1.0\)"),
    (lambda: Adam(epsilon=-1e-7), "epsilon must be >= 0"),
    (lambda: AdamW(weight_decay=None), "weight_decay must be a float, got None"),
    (lambda: RMSprop(rho=1.1), r"rho must be in \[0.0, 1.0\]"),
    (lambda: RMSprop(momentum=-0.5), "momentum must be >= 0"),
    (lambda: Adagrad(initial_accumulator_value=-0.1), "initial_accumulator_value must be >= 0"),
])
def test_hyperparameter_ranges(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_hyperparameter_types():
    with pytest.raises(TypeError, match="SGD: momentum must be a number, got '0.9'"):
        SGD(momentum="0.9")
    with pytest.raises(TypeError, match="Adam: beta_1 must be a number"):
        Adam(beta_1=None)


def test_momentum_edges_are_accepted():
    assert SGD(momentum=0).momentum == 0.0
    assert SGD(momentum=1.0).momentum == 1.0


@pytest.mark.parametrize("cls, defaults", [
    (SGD, {"name": "SGD", "learning_rate": 0.01, "momentum": 0.0, "nesterov": False,
           "weight_decay": None}),
    (Adam, {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999,
            "epsilon": 1e-7, "amsgrad": False, "weight_decay": None}),
    (AdamW, {"name": "adamw", "learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9,
             "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}),
    (RMSprop, {"name": "rmsprop", "learning_rate": 0.001, "rho": 0.9, "momentum": 0.0,
               "epsilon": 1e-7, "centered": False}),
    (Adagrad, {"name": "adagrad", "learning_rate": 0.001, "initial_accumulator_value": 0.1,
               "epsilon": 1e-7}),
])
def test_keras_defaults(cls, defaults):
    config = cls().get_config()
    for key, value in defaults.items():
        assert config[key] == value, key
    for key, value in [("clipnorm", None), ("clipvalue", None), ("global_clipnorm", None),
                       ("use_ema", False), ("ema_momentum", 0.99),
                       ("ema_overwrite_frequency", None), ("loss_scale_factor", None),
                       ("gradient_accumulation_steps", None)]:
        assert config[key] == value, key


def test_base_optimizer_has_no_update_rule():
    opt = Optimizer(0.1)
    assert opt.name == "optimizer"
    with pytest.raises(NotImplementedError, match="_update_step"):
        opt.apply([np.ones(2, np.float32)], [np.zeros(2, np.float32)])


# -- configs, get(), state ---------------------------------------------------------------

CONFIG_CASES = [
    lambda: SGD(0.2, momentum=0.5, nesterov=True, clipvalue=1.0, name="s"),
    lambda: Adam(0.003, beta_1=0.8, amsgrad=True, weight_decay=0.01, global_clipnorm=2.0),
    lambda: AdamW(schedules.CosineDecay(0.1, 100, alpha=0.1, warmup_target=0.2, warmup_steps=5)),
    lambda: RMSprop(schedules.PiecewiseConstantDecay([5, 10], [0.1, 0.01, 0.001]),
                    momentum=0.2, centered=True, clipnorm=3.0),
    lambda: Adagrad(0.5, initial_accumulator_value=0.2, epsilon=1e-5),
]


@pytest.mark.parametrize("make", CONFIG_CASES)
def test_config_round_trips_through_json(make):
    opt = make()
    config = opt.get_config()
    restored = type(opt).from_config(json.loads(json.dumps(config)))
    assert type(restored) is type(opt)
    assert restored.get_config() == config
    data = optimizers.serialize(opt)
    assert data == {"class_name": type(opt).__name__, "config": config}
    again = optimizers.deserialize(json.loads(json.dumps(data)))
    assert again.get_config() == config
    assert again.learning_rate == opt.learning_rate


def test_schedule_is_serialised_as_class_name_and_config():
    opt = SGD(schedules.ExponentialDecay(0.1, 10, 0.9, staircase=True))
    lr = opt.get_config()["learning_rate"]
    assert lr == {"class_name": "ExponentialDecay",
                  "config": {"initial_learning_rate": 0.1, "decay_steps": 10,
                             "decay_rate": 0.9, "staircase": True,
                             "name": "ExponentialDecay"}}
    restored = SGD.from_config(opt.get_config())
    assert isinstance(restored._learning_rate, schedules.ExponentialDecay)
    with pytest.raises(TypeError, match="not settable"):
        restored.learning_rate = 0.1


def test_callable_learning_rate_is_not_serialisable():
    with pytest.raises(ValueError, match="callable learning_rate cannot be serialised"):
        SGD(lambda: 0.1).get_config()


def test_from_config_does_not_modify_its_argument():
    config = optimizers.serialize(Adam(schedules.ExponentialDecay(0.1, 10, 0.9)))
    snapshot = json.dumps(config, sort_keys=True)
    optimizers.deserialize(config)
    Adam.from_config(config["config"])
    assert json.dumps(config, sort_keys=True) == snapshot


@pytest.mark.parametrize("name, cls", [
    ("sgd", SGD), ("adam", Adam), ("adamw", AdamW), ("rmsprop", RMSprop), ("adagrad", Adagrad),
    ("SGD", SGD), ("Adam", Adam), ("AdamW", AdamW), ("RMSprop", RMSprop), ("Adagrad", Adagrad),
])
def test_get_by_name(name, cls):
    opt = optimizers.get(name)
    assert type(opt) is cls
    assert opt.get_config() == cls().get_config()


def test_get_other_identifiers():
    opt = RMSprop(0.1)
    assert optimizers.get(opt) is opt
    assert optimizers.get(None) is None
    from_dict = optimizers.get({"class_name": "Adam", "config": {"learning_rate": 0.5}})
    assert type(from_dict) is Adam and from_dict.learning_rate == 0.5
    keras_style = {"module": "keras.optimizers", "class_name": "RMSprop",
                   "config": {"learning_rate": 0.01, "rho": 0.8}, "registered_name": None}
    assert optimizers.get(keras_style).rho == 0.8
    with pytest.raises(ValueError, match=r"one of \['adagrad', 'adam', 'adamw', 'rmsprop', "
                                         r"'sgd'\], got 'nadam'"):
        optimizers.get("nadam")
    with pytest.raises(ValueError, match="unknown class_name 'Lion'"):
        optimizers.get({"class_name": "Lion", "config": {}})
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier"):
        optimizers.get(42)
    with pytest.raises(ValueError, match="must be a gru_py Optimizer"):
        optimizers.serialize("adam")


def test_deserialize_custom_objects():
    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 1.0 / 2 ** step

        def get_config(self):
            return {}

    class MySGD(SGD):
        pass

    data = optimizers.serialize(MySGD(Halving()))
    assert data["config"]["learning_rate"] == {"class_name": "Halving", "config": {}}
    opt = optimizers.deserialize(data, custom_objects={"MySGD": MySGD, "Halving": Halving})
    assert type(opt) is MySGD and opt.learning_rate == 1.0


def test_slot_state_round_trip_continues_identically():
    weights, grad_steps = make_problem()
    copies = [w.copy() for w in weights]
    opt = Adam(0.01, amsgrad=True)
    opt.apply(grad_steps[0], weights)
    opt.apply(grad_steps[1], weights)
    state = opt.get_slot_state()
    assert state[0].dtype == np.int64 and int(state[0]) == 2
    assert len(state) == 1 + len(opt.variables)
    assert all(s is not v for s, v in zip(state[1:], opt.variables))  # copies

    resumed = Adam.from_config(opt.get_config())
    for c, w in zip(copies, weights):
        c[...] = w
    resumed.build(copies)
    slot_ids = [id(s) for s in resumed.variables]
    resumed.set_slot_state(state)
    assert [id(s) for s in resumed.variables] == slot_ids  # restored in place
    assert resumed.iterations == 2
    opt.apply(grad_steps[2], weights)
    resumed.apply(grad_steps[2], copies)
    for a, b in zip(weights + opt.variables, copies + resumed.variables):
        np.testing.assert_array_equal(a, b)


def test_set_slot_state_checks():
    weights, _ = make_problem()
    opt = SGD(momentum=0.9)
    with pytest.raises(ValueError, match="call optimizer.build"):
        opt.set_slot_state([np.array(0)])
    opt.build(weights)
    state = opt.get_slot_state()
    with pytest.raises(ValueError, match="expects 4 arrays"):
        opt.set_slot_state(state[:3])
    bad = list(state)
    bad[2] = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"state\[2\] must have shape \(3,\), got \(4,\)"):
        opt.set_slot_state(bad)
    bad = list(state)
    bad[0] = np.array(1.5)
    with pytest.raises(ValueError, match="non-negative integer"):
        opt.set_slot_state(bad)
    bad = list(state)
    bad[1] = np.full(SHAPES[0], np.nan, np.float32)
    with pytest.raises(ValueError, match=r"state\[1\] contains NaN"):
        opt.set_slot_state(bad)
    assert opt.iterations == 0 and all(np.all(s == 0) for s in opt.variables)


def test_no_warnings_on_a_clean_step():
    weights, grad_steps = make_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Adam(global_clipnorm=1.0).apply(grad_steps[0], weights)
