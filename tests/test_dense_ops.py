"""Numerical tests of gru_py.ops.dense_forward / dense_backward (the C core through NumPy).

Oracles: the float64 NumPy reference in tests/reference.py (its backward and central
differences of its forward).

Dimension letters: I input features, O output units; inputs are (..., I).

Tolerances. The core computes in float32 (about 6e-8 relative rounding per operation):
outputs are compared to 1e-5 absolute, gradients "relative to their scale": every entry
within 1e-4 of the largest magnitude of the expected array (atol = 1e-4 * max|want|, plus
rtol = 1e-4), since entries small by cancellation carry the rounding of large terms.
"""

import itertools

import numpy as np
import pytest
import reference as ref
from assertions import assert_abs, assert_scaled

from gru_py import ops

I, O = 4, 5
LEADING_SHAPES = [(), (6,), (2, 3), (2, 1, 3)]  # 1-D, 2-D, 3-D and 4-D inputs
ACTIVATIONS = ["linear", None, "relu", "sigmoid", "tanh", "hard_sigmoid", "softmax"]

# relu and hard_sigmoid have kinks where the derivative jumps: near one the float32 core
# and the float64 reference may disagree on the side (and a central difference straddles
# it), so inputs are drawn with every pre-activation at least KINK_MARGIN away, far
# beyond float32 rounding and the 1e-6 finite-difference steps.
KINKS = {"relu": (0.0,), "hard_sigmoid": (-3.0, 3.0)}
KINK_MARGIN = 1e-3
SEED_TRIES = 100


def _ref_name(activation):
    return "linear" if activation is None else activation


def _make_case(seed, lead, use_bias):
    """Random float32 x (*lead, I), kernel (I, O), bias (O,) or None, d_y (*lead, O).

    The pre-activations spread over about +-5, so hard_sigmoid is seen clipped on both
    sides as well as on its slope.
    """
    rng = np.random.default_rng(seed)

    def normal(size, scale=1.0):
        return (scale * rng.standard_normal(size)).astype(np.float32)

    return {
        "x": normal((*lead, I)),
        "kernel": normal((I, O), 1.5),
        "bias": normal((O,)) if use_bias else None,
        "d_y": normal((*lead, O)),
    }


def _pre_activation(case):
    bias = 0.0 if case["bias"] is None else case["bias"].astype(np.float64)
    return case["x"].astype(np.float64) @ case["kernel"].astype(np.float64) + bias


def _smooth_case(base_seed, activation, lead, use_bias):
    """The first case from seeds base_seed, base_seed + 1, ... that stays off the kinks."""
    kinks = KINKS.get(_ref_name(activation), ())
    for seed in range(base_seed, base_seed + SEED_TRIES):
        case = _make_case(seed, lead, use_bias)
        pre = _pre_activation(case)
        if all(np.min(np.abs(pre - k)) > KINK_MARGIN for k in kinks):
            return seed, case
    raise AssertionError(f"no seed in {base_seed}..{base_seed + SEED_TRIES - 1} avoids the "
                         f"kinks of {activation} for x shape {(*lead, I)}")


def _context(seed, case, activation):
    return (f"seed={seed} x shape {case['x'].shape} kernel shape {case['kernel'].shape} "
            f"use_bias={case['bias'] is not None} activation={activation!r}")


def _c_run(case, activation, d_kernel=None, d_bias=None):
    y = ops.dense_forward(case["x"], case["kernel"], case["bias"], activation)
    grads = ops.dense_backward(case["x"], case["kernel"], y, case["d_y"], activation=activation,
                               use_bias=case["bias"] is not None, d_kernel=d_kernel,
                               d_bias=d_bias)
    return y, grads


def _assert_gradients(grads, want, context, what=""):
    assert_scaled(grads.x, want["x"], f"d_x{what}", context)
    assert_scaled(grads.kernel, want["kernel"], f"d_kernel{what}", context)
    if want["bias"] is None:
        assert grads.bias is None, f"d_bias should be None without a bias; {context}"
    else:
        assert_scaled(grads.bias, want["bias"], f"d_bias{what}", context)


# ------------------------------------------------------------------------------------
# Against the float64 reference
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("lead,use_bias", list(itertools.product(LEADING_SHAPES, [True, False])))
def test_matches_reference(activation, lead, use_bias):
    seed, case = _smooth_case(100, activation, lead, use_bias)
    context = _context(seed, case, activation)
    y, grads = _c_run(case, activation)
    name = _ref_name(activation)
    assert_abs(y, ref.dense_forward(case["x"], case["kernel"], case["bias"], name), "y",
                context)
    want = ref.dense_backward(case["x"], case["kernel"], case["bias"], case["d_y"], name)
    _assert_gradients(grads, want, context)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_leading_axes_act_as_rows(activation):
    # (2, 3, I) must give exactly what its (6, I) flattening gives, reshaped.
    seed, case = _smooth_case(150, activation, (2, 3), True)
    context = _context(seed, case, activation)
    flat = {k: (v if k == "bias" else v.reshape(-1, v.shape[-1])) for k, v in case.items()}
    y, grads = _c_run(case, activation)
    y_flat, grads_flat = _c_run(flat, activation)
    np.testing.assert_array_equal(y, y_flat.reshape(y.shape), err_msg=context)
    np.testing.assert_array_equal(grads.x, grads_flat.x.reshape(grads.x.shape), err_msg=context)
    for name in ("kernel", "bias"):
        np.testing.assert_array_equal(getattr(grads, name), getattr(grads_flat, name),
                                      err_msg=f"d_{name}; {context}")


# ------------------------------------------------------------------------------------
# Central differences of the reference forward vs the core's backward
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("lead", [(3,), (2, 2)])
def test_backward_matches_central_differences(activation, lead):
    seed, case = _smooth_case(200, activation, lead, True)
    context = _context(seed, case, activation)
    _, grads = _c_run(case, activation)

    # float32 values are exact in float64, so the reference differentiates the very
    # function the core ran.
    params = {name: case[name].astype(np.float64) for name in ("x", "kernel", "bias")}

    def loss():
        y = ref.dense_forward(params["x"], params["kernel"], params["bias"],
                              _ref_name(activation))
        return np.sum(y * case["d_y"])

    # A float64 central difference with eps=1e-6 is accurate to ~1e-9, so this measures
    # the float32 backward alone (~1e-6 of the scale); 1e-4 of the scale leaves room and
    # still catches any wrong term.
    numeric = {name: ref.numerical_gradient(loss, arr) for name, arr in params.items()}
    _assert_gradients(grads, numeric, context, " (central differences)")


# ------------------------------------------------------------------------------------
# The gradient contract
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["linear", "softmax"])
def test_backward_adds_into_accumulators(activation):
    seed, case = _smooth_case(300, activation, (2, 3), True)
    context = _context(seed, case, activation)
    y, fresh = _c_run(case, activation)

    rng = np.random.default_rng(seed)
    d_kernel = rng.standard_normal((I, O)).astype(np.float32)
    d_bias = rng.standard_normal(O).astype(np.float32)
    start_kernel, start_bias = d_kernel.copy(), d_bias.copy()
    for calls in (1, 2):
        grads = ops.dense_backward(case["x"], case["kernel"], y, case["d_y"],
                                   activation=activation, d_kernel=d_kernel, d_bias=d_bias)
        assert grads.kernel is d_kernel and grads.bias is d_bias, (
            f"the accumulators themselves must be returned; {context}")
        # The core adds in float32: equal up to the rounding of that addition.
        assert_scaled(d_kernel, start_kernel + calls * fresh.kernel.astype(np.float64),
                       f"d_kernel after {calls} call(s)", context, rtol=1e-6)
        assert_scaled(d_bias, start_bias + calls * fresh.bias.astype(np.float64),
                       f"d_bias after {calls} call(s)", context, rtol=1e-6)
        np.testing.assert_array_equal(grads.x, fresh.x, err_msg=context)
        assert not any(np.shares_memory(grads.x, other)
                       for other in (case["x"], case["d_y"], y, d_kernel, d_bias, fresh.x)), (
            f"d_x must be a fresh array; {context}")


def test_fresh_parameter_gradients_without_accumulators():
    seed, case = _smooth_case(310, "tanh", (4,), True)
    context = _context(seed, case, "tanh")
    _, first = _c_run(case, "tanh")
    _, second = _c_run(case, "tanh")
    for name in ("x", "kernel", "bias"):
        a, b = getattr(first, name), getattr(second, name)
        assert not np.shares_memory(a, b), f"d_{name} of two calls share memory; {context}"
        np.testing.assert_array_equal(a, b, err_msg=f"d_{name}; {context}")


@pytest.mark.parametrize("bad", ["float64", "fortran", "readonly"])
def test_accumulator_that_cannot_be_updated_in_place_is_rejected(bad):
    # A silent conversion would write the gradient into a temporary copy and lose it.
    seed, case = _smooth_case(320, "linear", (3,), True)
    y, _ = _c_run(case, "linear")
    accumulator = {
        "float64": np.zeros((I, O)),
        "fortran": np.zeros((I, O), np.float32, order="F"),
        "readonly": np.zeros((I, O), np.float32),
    }[bad]
    accumulator.flags.writeable = bad != "readonly"
    with pytest.raises(TypeError, match="d_kernel"):
        ops.dense_backward(case["x"], case["kernel"], y, case["d_y"], d_kernel=accumulator)
    assert not np.any(accumulator), f"rejected accumulator was modified; seed={seed} {bad}"


# ------------------------------------------------------------------------------------
# Softmax
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lead", [(7,), (2, 3)])
def test_softmax_rows_sum_to_one(lead):
    seed = 400
    case = _make_case(seed, lead, True)
    case["x"] *= 10  # wide logits: some probabilities near 0, some near 1
    y = ops.dense_forward(case["x"], case["kernel"], case["bias"], "softmax")
    context = _context(seed, case, "softmax")
    assert np.all(y >= 0), context
    np.testing.assert_allclose(y.sum(axis=-1, dtype=np.float64), 1.0, rtol=0, atol=1e-6,
                               err_msg=context)


def test_softmax_is_stable_for_large_logits():
    # An identity kernel makes the logits x itself: values of +-1000 overflow a naive
    # exp in float32 (and float64). Rows: a clear winner, a tie, all equal and huge, a
    # row that would underflow to 0/0, and one shifted by 1000 from a small one.
    x = np.array([[1000.0, 999.0, 0.0],
                  [-1000.0, 1000.0, 1000.0],
                  [1000.0, 1000.0, 1000.0],
                  [-1000.0, -1001.0, -1000.0],
                  [1001.0, 1002.0, 1003.0]], dtype=np.float32)
    kernel = np.eye(3, dtype=np.float32)
    y = ops.dense_forward(x, kernel, None, "softmax")
    context = f"large logits, x shape {x.shape}"
    assert np.all(np.isfinite(y)), f"non-finite softmax; {context}"
    assert_abs(y, ref.dense_forward(x, kernel, None, "softmax"), "y", context, atol=1e-6)
    np.testing.assert_allclose(y[-1], ops.dense_forward(x[-1] - 1000, kernel, None, "softmax"),
                               rtol=0, atol=1e-6, err_msg=f"shift invariance; {context}")

    d_y = np.random.default_rng(410).standard_normal(x.shape).astype(np.float32)
    grads = ops.dense_backward(x, kernel, y, d_y, activation="softmax", use_bias=False)
    want = ref.dense_backward(x, kernel, None, d_y, "softmax")
    assert all(np.all(np.isfinite(g)) for g in (grads.x, grads.kernel)), context
    # d_kernel sums products with logits of 1000: compared relative to its scale.
    assert_scaled(grads.x, want["x"], "d_x", f"seed=410; {context}")
    assert_scaled(grads.kernel, want["kernel"], "d_kernel", f"seed=410; {context}")


# ------------------------------------------------------------------------------------
# Input conversion
# ------------------------------------------------------------------------------------


def _converted(case, how):
    """x, kernel, bias and d_y as another dtype or a non-contiguous view of equal values."""
    if how == "float64":
        return {k: v.astype(np.float64) / 3 for k, v in case.items()}
    if how == "int32":
        return {k: np.rint(2 * v).astype(np.int32) for k, v in case.items()}
    if how == "bool":
        return {k: v > 0 for k, v in case.items()}
    # "strided": transposed copies seen through transposes, every other column of x.
    views = {k: np.ascontiguousarray(v.T).T for k, v in case.items()}
    views["x"] = np.repeat(case["x"], 2, axis=-1)[..., ::2]
    assert not any(v.flags.c_contiguous for k, v in views.items() if k != "bias")
    return views


@pytest.mark.parametrize("how", ["float64", "int32", "bool", "strided"])
@pytest.mark.parametrize("activation", ["tanh", "softmax"])
def test_converted_inputs_equal_float32_contiguous(how, activation):
    seed = 500
    args = _converted(_make_case(seed, (2, 3), True), how)
    context = f"{_context(seed, args, activation)} input={how}"
    want_args = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in args.items()}
    y, grads = _c_run(args, activation)
    y_want, grads_want = _c_run(want_args, activation)
    np.testing.assert_array_equal(y, y_want, err_msg=context)
    for name in ("x", "kernel", "bias"):
        np.testing.assert_array_equal(getattr(grads, name), getattr(grads_want, name),
                                      err_msg=f"d_{name}; {context}")
