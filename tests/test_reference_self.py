"""Self-checks of tests/reference.py: hand-written gradients against central
differences (all in float64), plus the Keras golden values.

Dimension letters: B batch, T timesteps, I input features, H units,
O output units.
"""

import itertools
from pathlib import Path

import numpy as np
import pytest
import reference as ref
import rnn_vectors

B, T, I, H, O = 2, 3, 3, 4, 5
RTOL = 1e-6
# A central difference of a loss L loses about 2e-16 * |L| / eps to
# rounding, so entries near zero get an absolute slack growing with |L|
# (linear gates can make |L| large).
ATOL_PER_LOSS = 1e-8
# Finite differences are only valid away from the kinks of relu (0) and
# hard_sigmoid (-3, 3); 1e-3 is far beyond the 1e-6 perturbations.
KINK_MARGIN = 1e-3
KINKS = {"relu": (0.0,), "hard_sigmoid": (-3.0, 3.0)}

ACTIVATION_PAIRS = [
    ("tanh", "sigmoid"),
    ("linear", "sigmoid"),
    ("relu", "sigmoid"),
    ("hard_sigmoid", "sigmoid"),
    ("tanh", "linear"),
    ("tanh", "relu"),
    ("tanh", "hard_sigmoid"),
]


def _kink_distance(name, pre):
    """Smallest distance of any entry of ``pre`` to a kink of ``name``."""
    return min((np.min(np.abs(pre - k)) for k in KINKS.get(name, ())),
               default=np.inf)


def _assert_grad(analytic, numeric, what, context, loss_value=1.0):
    atol = ATOL_PER_LOSS * max(1.0, abs(float(loss_value)))
    np.testing.assert_allclose(
        analytic, numeric, rtol=RTOL, atol=atol,
        err_msg=f"gradient of {what!r} differs; {context}")


# ---------------------------------------------------------------------------
# GRU
# ---------------------------------------------------------------------------


def _gru_case(seed, reset_after, use_bias, use_initial_state,
              weight_scale=0.6):
    """Random float64 GRU inputs of shape (B, T, I) and matching weights."""
    rng = np.random.default_rng(seed)
    bias_shape = (2, 3 * H) if reset_after else (3 * H,)
    return {
        "x": rng.normal(size=(B, T, I)),
        "kernel": rng.normal(scale=weight_scale, size=(I, 3 * H)),
        "recurrent_kernel": rng.normal(scale=weight_scale, size=(H, 3 * H)),
        "bias": rng.normal(size=bias_shape) if use_bias else None,
        "initial_state": (rng.normal(size=(B, H)) if use_initial_state
                          else None),
        "d_outputs": rng.normal(size=(B, T, H)),
        "d_last_state": rng.normal(size=(B, H)),
    }


def _gru_kink_distance(case, flags):
    _, _, caches = ref._gru_trace(
        case["x"], case["kernel"], case["recurrent_kernel"], case["bias"],
        case["initial_state"], **flags)
    distances = []
    for c in caches:
        distances.append(_kink_distance(flags["activation"], c["pre_hh"]))
        for gate in ("pre_z", "pre_r"):
            distances.append(
                _kink_distance(flags["recurrent_activation"], c[gate]))
    return min(distances)


def _smooth_gru_case(flags, use_bias, use_initial_state):
    """First seed whose pre-activations all stay clear of the kinks."""
    # Linear gates are unbounded and feed the state back into itself, so
    # with the usual weights h (and the curvature of the loss) explodes and
    # central differences lose their accuracy: keep those weights small.
    scale = 0.2 if flags["recurrent_activation"] == "linear" else 0.6
    for seed in range(100):
        case = _gru_case(seed, flags["reset_after"], use_bias,
                         use_initial_state, scale)
        if _gru_kink_distance(case, flags) > KINK_MARGIN:
            return seed, case
    raise AssertionError(f"no seed in 0..99 avoids the kinks for {flags}")


@pytest.mark.parametrize("activation,recurrent_activation", ACTIVATION_PAIRS)
@pytest.mark.parametrize(
    "reset_after,use_bias,use_initial_state,go_backwards",
    list(itertools.product([True, False], repeat=4)))
def test_gru_gradients_match_central_differences(
        activation, recurrent_activation, reset_after, use_bias,
        use_initial_state, go_backwards):
    flags = {
        "activation": activation,
        "recurrent_activation": recurrent_activation,
        "reset_after": reset_after,
        "go_backwards": go_backwards,
    }
    seed, case = _smooth_gru_case(flags, use_bias, use_initial_state)
    context = (f"seed={seed} shape B,T,I,H={B},{T},{I},{H} "
               f"use_bias={use_bias} initial_state={use_initial_state} "
               f"{flags}")

    def loss():
        outputs, last_state = ref.gru_forward(
            case["x"], case["kernel"], case["recurrent_kernel"],
            case["bias"], case["initial_state"], **flags)
        return (np.sum(outputs * case["d_outputs"])
                + np.sum(last_state * case["d_last_state"]))

    grads = ref.gru_backward(
        case["x"], case["kernel"], case["recurrent_kernel"], case["bias"],
        case["initial_state"], case["d_outputs"], case["d_last_state"],
        **flags)

    for name in ("x", "kernel", "recurrent_kernel", "bias", "initial_state"):
        if case[name] is None:
            continue
        numeric = ref.numerical_gradient(loss, case[name])
        _assert_grad(grads[name], numeric, name, context, loss())

    if not use_bias:
        assert grads["bias"] is None, context
    if not use_initial_state:
        # A missing initial state is a zero one: same gradient.
        zero_state = ref.gru_backward(
            case["x"], case["kernel"], case["recurrent_kernel"],
            case["bias"], np.zeros((B, H)), case["d_outputs"],
            case["d_last_state"], **flags)
        _assert_grad(grads["initial_state"], zero_state["initial_state"],
                     "initial_state (None vs zeros)", context)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_missing_upstream_gradients_are_zeros(reset_after):
    seed = 7
    case = _gru_case(seed, reset_after, True, True)
    args = (case["x"], case["kernel"], case["recurrent_kernel"],
            case["bias"], case["initial_state"])
    zeros_out, zeros_last = np.zeros((B, T, H)), np.zeros((B, H))
    pairs = [
        (ref.gru_backward(*args, None, case["d_last_state"],
                          reset_after=reset_after),
         ref.gru_backward(*args, zeros_out, case["d_last_state"],
                          reset_after=reset_after)),
        (ref.gru_backward(*args, case["d_outputs"], None,
                          reset_after=reset_after),
         ref.gru_backward(*args, case["d_outputs"], zeros_last,
                          reset_after=reset_after)),
    ]
    for got, want in pairs:
        for name in want:
            np.testing.assert_array_equal(
                got[name], want[name], err_msg=f"{name}; seed={seed}")


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_go_backwards_reads_reversed_inputs(reset_after):
    # Outputs stay in processing order, so reading backwards must equal
    # running forwards over the time-reversed inputs.
    seed = 3
    case = _gru_case(seed, reset_after, True, True)
    weights = (case["kernel"], case["recurrent_kernel"], case["bias"],
               case["initial_state"])
    backwards = ref.gru_forward(case["x"], *weights, reset_after=reset_after,
                                go_backwards=True)
    reversed_x = ref.gru_forward(case["x"][:, ::-1], *weights,
                                 reset_after=reset_after)
    for got, want in zip(backwards, reversed_x):
        np.testing.assert_allclose(got, want, rtol=0, atol=0,
                                   err_msg=f"seed={seed}")


@pytest.mark.parametrize(
    "reset_after,bias_shape,expected",
    [
        (True, (2, 9), [0.5217289, 0.6371659, 0.39384964]),
        (False, (9,), [0.5144776, 0.6426879, 0.4020829]),
    ])
def test_gru_matches_keras_golden_values(reset_after, bias_shape, expected):
    x = np.arange(72, dtype=np.float32).reshape(3, 6, 4)
    kernel = np.full((4, 9), 0.01)
    recurrent_kernel = np.full((3, 9), 0.02)
    bias = np.full(bias_shape, 0.03)
    outputs, last_state = ref.gru_forward(
        x, kernel, recurrent_kernel, bias, reset_after=reset_after)
    assert outputs.shape == (3, 6, 3)
    want = np.repeat(np.array(expected)[:, None], 3, axis=1)
    np.testing.assert_allclose(last_state, want, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(outputs[:, -1], last_state)


# ---------------------------------------------------------------------------
# Dense
# ---------------------------------------------------------------------------


def _smooth_dense_case(activation_name, use_bias):
    """First seed whose pre-activations all stay clear of the kinks."""
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        case = {
            # Two leading axes check that they are all treated as rows.
            "x": rng.normal(size=(B, T, I)),
            "kernel": rng.normal(size=(I, O)),
            "bias": rng.normal(size=(O,)) if use_bias else None,
            "d_y": rng.normal(size=(B, T, O)),
        }
        pre = case["x"] @ case["kernel"]
        if use_bias:
            pre = pre + case["bias"]
        if _kink_distance(activation_name, pre) > KINK_MARGIN:
            return 1000 + seed, case
    raise AssertionError(f"no seed avoids the kinks of {activation_name}")


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize(
    "activation",
    ["linear", "sigmoid", "tanh", "hard_sigmoid", "relu", "softmax"])
def test_dense_gradients_match_central_differences(activation, use_bias):
    seed, case = _smooth_dense_case(activation, use_bias)
    context = (f"seed={seed} x shape {case['x'].shape} kernel shape "
               f"{case['kernel'].shape} use_bias={use_bias} "
               f"activation={activation}")

    def loss():
        y = ref.dense_forward(case["x"], case["kernel"], case["bias"],
                              activation)
        return np.sum(y * case["d_y"])

    grads = ref.dense_backward(case["x"], case["kernel"], case["bias"],
                               case["d_y"], activation)
    for name in ("x", "kernel", "bias"):
        if case[name] is None:
            assert grads[name] is None, context
            continue
        numeric = ref.numerical_gradient(loss, case[name])
        _assert_grad(grads[name], numeric, name, context, loss())


# ---------------------------------------------------------------------------
# Activations and helpers
# ---------------------------------------------------------------------------


def test_activations_are_stable_and_exact_at_known_points():
    x = np.array([-1000.0, -3.0, 0.0, 3.0, 1000.0])
    # Underflow to 0 is expected; overflow or NaN would mean instability.
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        np.testing.assert_allclose(
            ref.activation("sigmoid", x), [0, 1 / (1 + np.exp(3)), 0.5,
                                           1 / (1 + np.exp(-3)), 1])
        np.testing.assert_allclose(ref.activation("hard_sigmoid", x),
                                   [0, 0, 0.5, 1, 1])
        np.testing.assert_array_equal(ref.activation("relu", x),
                                      [0, 0, 0, 3, 1000])
        softmax = ref.activation("softmax", np.stack([x, -x]))
    np.testing.assert_allclose(softmax.sum(axis=-1), [1.0, 1.0])
    np.testing.assert_allclose(softmax[:, [0, 4]], [[0, 1], [1, 0]])


def test_unknown_activation_raises():
    with pytest.raises(ValueError):
        ref.activation("swish", np.zeros(3))
    with pytest.raises(ValueError):
        ref.activation_derivative("softmax", np.zeros(3))
    with pytest.raises(ValueError):
        ref.dense_forward(np.zeros((2, 3)), np.zeros((3, 4)),
                          activation="gelu")
    with pytest.raises(ValueError):
        ref.gru_forward(np.zeros((B, T, I)), np.zeros((I, 3 * H)),
                        np.zeros((H, 3 * H)), recurrent_activation="softmax")


def test_numerical_gradient_restores_the_array():
    a = np.array([[1.0, -2.0], [0.5, 3.0]])
    original = a.copy()
    grad = ref.numerical_gradient(lambda: np.sum(a ** 3), a)
    np.testing.assert_array_equal(a, original)
    np.testing.assert_allclose(grad, 3 * original ** 2, rtol=1e-9)


# ---------------------------------------------------------------------------
# LSTM and SimpleRNN; masks and dropout masks of all three kinds
# ---------------------------------------------------------------------------

KINDS = ("gru", "lstm", "simple_rnn")
KERAS_MASKS = np.load(Path(__file__).resolve().parent / "data" / "keras_mask_reference.npz")
KERAS_KINDS = {"GRU": "gru", "LSTM": "lstm", "SimpleRNN": "simple_rnn"}
# Central differences cost two forwards per entry: gradients are checked on the
# cases with at most this many inputs and weights (the wide ones check forward only).
MAX_DIFFERENTIATED = 600


def _rnn_case(kind, seed, shape=(B, T, I, H), reset_after=True):
    """Random float64 inputs and weights of any kind, ``initial_state`` given."""
    rng = np.random.default_rng(seed)
    b, t, i, h = shape
    width = ref.GATES[kind] * h
    bias_shape = (2, width) if kind == "gru" and reset_after else (width,)
    state = rng.normal(scale=0.5, size=(b, h))
    return {
        "x": rng.normal(size=(b, t, i)),
        "kernel": rng.normal(scale=0.6, size=(i, width)),
        "recurrent_kernel": rng.normal(scale=0.6, size=(h, width)),
        "bias": rng.normal(size=bias_shape),
        "initial_state": ((state, rng.normal(scale=0.5, size=(b, h)))
                          if kind == "lstm" else state),
    }


def _run(kind, case, **options):
    return ref.rnn_trace(kind, case["x"], case["kernel"], case["recurrent_kernel"],
                         case["bias"], case["initial_state"], **options)


def _states(kind, trace):
    """The final states: (h,) or (h, c)."""
    if kind == "lstm":
        return trace["last_state"], trace["last_carry"]
    return (trace["last_state"],)


def _initial_states(kind, case):
    return case["initial_state"] if kind == "lstm" else (case["initial_state"],)


def _row(kind, case, row, steps=slice(None)):
    """One batch row (and a slice of its steps) of a case, as a batch of one."""
    sub = dict(case, x=case["x"][row:row + 1, steps])
    states = tuple(s[row:row + 1] for s in _initial_states(kind, case))
    sub["initial_state"] = states if kind == "lstm" else states[0]
    return sub


def _assert_row_states(kind, got, row, alone, context):
    """The final states of batch row ``row`` of ``got`` are those of ``alone``'s only row."""
    for got_state, want in zip(_states(kind, got), _states(kind, alone)):
        np.testing.assert_allclose(got_state[row], want[0], rtol=0, atol=1e-15,
                                   err_msg=context)


@pytest.mark.parametrize("name", rnn_vectors.NAMES)
def test_rnn_reference_matches_pytorch_vectors(name):
    kind, v, initial_state, options = rnn_vectors.case(name)
    context = f"torch case {name!r} x shape {v['x'].shape} {options}"
    trace = ref.rnn_trace(kind, v["x"], v["kernel"], v["recurrent_kernel"], v["bias"],
                          initial_state, **options)
    # Both sides are float64 runs of the same float32 numbers.
    for key in ("outputs", "last_state", "last_carry"):
        if key in v:
            np.testing.assert_allclose(trace[key], v[key], rtol=0, atol=1e-12,
                                       err_msg=f"{key}; {context}")

    args = (v["x"], v["kernel"], v["recurrent_kernel"], v["bias"], initial_state)
    if sum(np.size(a) for a in args[:4]) + 2 * v["h0"].size > MAX_DIFFERENTIATED:
        return
    grads = ref.rnn_numerical_gradients(
        kind, *args, v["d_outputs"], v["d_last_state"], v.get("d_last_carry"), **options)
    pairs = [("x", "d_x"), ("initial_state", "d_h0"), ("kernel", "d_kernel"),
             ("recurrent_kernel", "d_recurrent_kernel"), ("bias", "d_bias")]
    if kind == "lstm":
        pairs.append(("initial_carry", "d_c0"))
    for name_ref, name_torch in pairs:
        _assert_grad(grads[name_ref], v[name_torch], name_ref, context, 10.0)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_initial_state", [True, False])
def test_rnn_numerical_gradients_match_gru_backward(reset_after, use_initial_state):
    seed = 11
    case = _gru_case(seed, reset_after, True, use_initial_state)
    args = (case["x"], case["kernel"], case["recurrent_kernel"], case["bias"],
            case["initial_state"])
    want = ref.gru_backward(*args, case["d_outputs"], case["d_last_state"],
                            reset_after=reset_after, go_backwards=True)
    got = ref.rnn_numerical_gradients("gru", *args, case["d_outputs"], case["d_last_state"],
                                      reset_after=reset_after, go_backwards=True)
    context = f"seed={seed} reset_after={reset_after} initial_state={use_initial_state}"
    assert set(got) == set(want), context
    for name in want:
        _assert_grad(got[name], want[name], name, context, 10.0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_all_true_mask_and_unit_dropout_masks_change_nothing(kind, zero_output_for_mask,
                                                             go_backwards):
    seed = 20
    case = _rnn_case(kind, seed)
    gates = ref.GATES[kind]
    plain = _run(kind, case, go_backwards=go_backwards)
    neutral = [
        {"mask": np.ones((B, T), bool), "zero_output_for_mask": zero_output_for_mask},
        {"dropout_mask": np.ones((B, I)), "recurrent_dropout_mask": np.ones((gates, B, H))},
        {"dropout_mask": np.ones((gates, B, I)), "recurrent_dropout_mask": np.ones((B, H))},
    ]
    for options in neutral:
        got = _run(kind, case, go_backwards=go_backwards, **options)
        for key, want in plain.items():
            np.testing.assert_array_equal(got[key], want,
                                          err_msg=f"{key}; seed={seed} {kind} {options}")


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_masks_act_per_gate(kind):
    seed = 21
    case = _rnn_case(kind, seed)
    gates = ref.GATES[kind]
    rng = np.random.default_rng(seed)
    shared = (rng.random((B, I)) > 0.4) / 0.6
    recurrent = (rng.random((B, H)) > 0.4) / 0.6
    context = f"seed={seed} {kind}"

    # An input mask multiplies the input; shared by all gates it is the same as
    # feeding masked inputs, and the same as identical per-gate copies.
    want = _run(kind, dict(case, x=case["x"] * shared[:, None, :]))["outputs"]
    got = _run(kind, case, dropout_mask=shared)["outputs"]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15, err_msg=context)
    stacked = _run(kind, case, dropout_mask=np.stack([shared] * gates),
                   recurrent_dropout_mask=np.stack([recurrent] * gates))["outputs"]
    np.testing.assert_array_equal(
        stacked, _run(kind, case, dropout_mask=shared, recurrent_dropout_mask=recurrent)[
            "outputs"], err_msg=context)

    # Every gate reads its own mask: changing one gate's alone changes the result.
    for masks_name, width in (("dropout_mask", I), ("recurrent_dropout_mask", H)):
        base = np.ones((gates, B, width))
        for gate in range(gates):
            one_off = base.copy()
            one_off[gate, 0, 0] = 0.0
            changed = _run(kind, case, **{masks_name: one_off})["outputs"]
            assert np.max(np.abs(changed - _run(kind, case)["outputs"])) > 1e-6, (
                f"{masks_name}[{gate}] has no effect; {context}")


@pytest.mark.parametrize("kind,reset_after", [("gru", True), ("gru", False),
                                               ("lstm", True), ("simple_rnn", True)])
def test_recurrent_dropout_drops_matmul_inputs_only(kind, reset_after):
    # A recurrent mask of zeros removes every recurrent product but must leave
    # the state update itself (GRU z * h_prev, LSTM f * c_prev) alone: the same
    # as a zero recurrent kernel, not as a zero previous state.
    seed = 22
    case = _rnn_case(kind, seed, reset_after=reset_after)
    options = {"reset_after": reset_after} if kind == "gru" else {}
    dropped = _run(kind, case, recurrent_dropout_mask=np.zeros((B, H)), **options)
    no_recurrence = _run(kind, dict(case, recurrent_kernel=np.zeros_like(
        case["recurrent_kernel"])), **options)
    zero_state = _run(kind, dict(case, initial_state=(
        (np.zeros((B, H)),) * 2 if kind == "lstm" else np.zeros((B, H)))), **options)
    context = f"seed={seed} {kind} reset_after={reset_after}"
    np.testing.assert_array_equal(dropped["outputs"], no_recurrence["outputs"], context)
    if kind != "simple_rnn":  # SimpleRNN's state only enters through the matmul
        assert np.max(np.abs(dropped["outputs"] - zero_state["outputs"])) > 1e-3, context


# Masks of shape (B, T) = (2, 3): right-padded, left-padded, holes.
RIGHT = np.array([[True, True, False], [True, False, False]])
LEFT = np.array([[False, True, True], [False, False, True]])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_right_padded_mask_equals_truncated_rows(kind, zero_output_for_mask):
    seed = 23
    case = _rnn_case(kind, seed)
    got = _run(kind, case, mask=RIGHT, zero_output_for_mask=zero_output_for_mask)
    context = f"seed={seed} {kind} zero_output_for_mask={zero_output_for_mask}"
    for row, length in enumerate(RIGHT.sum(axis=1)):
        alone = _run(kind, _row(kind, case, row, slice(0, length)))
        _assert_row_states(kind, got, row, alone, context)
        np.testing.assert_allclose(got["outputs"][row, :length], alone["outputs"][0],
                                   rtol=0, atol=1e-15, err_msg=context)
        # Past the end: the last output repeated, or zeros.
        pad = 0.0 if zero_output_for_mask else got["outputs"][row, length - 1]
        np.testing.assert_array_equal(
            got["outputs"][row, length:], np.broadcast_to(pad, (T - length, H)), context)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_left_padded_mask_starts_from_initial_state(kind, zero_output_for_mask):
    # Before the first used step the output is zeros (not the initial state),
    # whatever zero_output_for_mask says; from there on it is the row alone.
    seed = 24
    case = _rnn_case(kind, seed)
    got = _run(kind, case, mask=LEFT, zero_output_for_mask=zero_output_for_mask)
    context = f"seed={seed} {kind} zero_output_for_mask={zero_output_for_mask}"
    for row, start in enumerate(np.argmax(LEFT, axis=1)):
        alone = _run(kind, _row(kind, case, row, slice(start, None)))
        np.testing.assert_array_equal(got["outputs"][row, :start], 0.0, context)
        np.testing.assert_allclose(got["outputs"][row, start:], alone["outputs"][0],
                                   rtol=0, atol=1e-15, err_msg=context)
        _assert_row_states(kind, got, row, alone, context)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_fully_masked_row_keeps_its_initial_state(kind, zero_output_for_mask):
    seed = 25
    case = _rnn_case(kind, seed)
    mask = np.array([[False] * T, [True, False, True]])
    got = _run(kind, case, mask=mask, zero_output_for_mask=zero_output_for_mask)
    context = f"seed={seed} {kind} zero_output_for_mask={zero_output_for_mask}"
    np.testing.assert_array_equal(got["outputs"][0], 0.0, context)
    for got_state, initial in zip(_states(kind, got), _initial_states(kind, case)):
        np.testing.assert_array_equal(got_state[0], initial[0], context)
    # The other row does not notice.
    alone = _run(kind, _row(kind, case, 1), mask=mask[1:],
                 zero_output_for_mask=zero_output_for_mask)
    np.testing.assert_allclose(got["outputs"][1], alone["outputs"][0], rtol=0, atol=1e-15,
                               err_msg=context)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_go_backwards_reads_mask_with_inputs(kind, zero_output_for_mask):
    seed = 26
    case = _rnn_case(kind, seed)
    mask = np.array([[True, False, True], [False, True, True]])
    got = _run(kind, case, mask=mask, go_backwards=True,
               zero_output_for_mask=zero_output_for_mask)
    want = _run(kind, dict(case, x=case["x"][:, ::-1]), mask=mask[:, ::-1],
                zero_output_for_mask=zero_output_for_mask)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], f"{key}; seed={seed} {kind}")


@pytest.mark.parametrize("kind", KINDS)
def test_masked_steps_have_no_gradient(kind):
    seed = 27
    case = _rnn_case(kind, seed)
    rng = np.random.default_rng(seed)
    d_outputs, d_last = rng.normal(size=(B, T, H)), rng.normal(size=(B, H))
    d_carry = rng.normal(size=(B, H)) if kind == "lstm" else None
    args = (kind, case["x"], case["kernel"], case["recurrent_kernel"], case["bias"],
            case["initial_state"], d_outputs, d_last, d_carry)
    context = f"seed={seed} {kind}"

    mask = np.array([[True, False, True], [False, False, True]])
    grads = ref.rnn_numerical_gradients(*args, mask=mask, go_backwards=True)
    np.testing.assert_array_equal(grads["x"][~mask], 0.0, context)
    assert np.all(np.any(grads["x"][mask] != 0.0, axis=-1)), context

    # Nothing used: no parameter gradient, and the states pass straight through.
    nothing = ref.rnn_numerical_gradients(*args, mask=np.zeros((B, T), bool))
    for name in ("x", "kernel", "recurrent_kernel", "bias"):
        np.testing.assert_array_equal(nothing[name], 0.0, f"{name}; {context}")
    _assert_grad(nothing["initial_state"], d_last, "initial_state", context)
    if kind == "lstm":
        _assert_grad(nothing["initial_carry"], d_carry, "initial_carry", context)


@pytest.mark.parametrize("kind", KINDS)
def test_rnn_bad_shapes_raise(kind):
    case = _rnn_case(kind, 28)
    gates = ref.GATES[kind]
    bad = [
        ("mask", {"mask": np.ones((B, T + 1), bool)}),
        ("mask", {"mask": np.ones((T,), bool)}),
        ("dropout_mask", {"dropout_mask": np.ones((B, H))}),
        ("dropout_mask", {"dropout_mask": np.ones((gates + 1, B, I))}),
        ("recurrent_dropout_mask", {"recurrent_dropout_mask": np.ones((B, I))}),
    ]
    for name, options in bad:
        with pytest.raises(ValueError, match=name):
            _run(kind, case, **options)
    with pytest.raises(ValueError, match="bias"):
        _run(kind, dict(case, bias=np.zeros(5 * H)))
    if kind == "lstm":
        with pytest.raises(ValueError, match="initial_state"):
            _run(kind, dict(case, initial_state=case["initial_state"] * 3))


@pytest.mark.parametrize("kind", list(KERAS_KINDS))
@pytest.mark.parametrize("go_backwards", [0, 1])
@pytest.mark.parametrize("zero_output", [0, 1])
def test_rnn_reference_matches_keras_masks(kind, go_backwards, zero_output):
    # tests/data/keras_mask_reference.npz: Keras 3 (TensorFlow, float32) on a batch
    # with right-padded, left-padded, fully masked and holed rows.
    name = f"{kind}/gb{go_backwards}/zo{zero_output}"
    data = {key.split("/", 3)[3]: KERAS_MASKS[key] for key in KERAS_MASKS.files
            if key.startswith(name + "/")}
    states = [data[f"state{i}"] for i in range(2 if kind == "LSTM" else 1)]
    cell = KERAS_KINDS[kind]
    args = (cell, KERAS_MASKS["x"], data["w0"], data["w1"], data["w2"],
            tuple(states) if cell == "lstm" else states[0])
    options = {"mask": KERAS_MASKS["mask"], "go_backwards": bool(go_backwards),
               "zero_output_for_mask": bool(zero_output)}
    context = f"Keras case {name}"
    trace = ref.rnn_trace(*args, **options)
    # Keras ran in float32: its rounding, not ours, sets these tolerances.
    np.testing.assert_allclose(trace["outputs"], data["outputs"], rtol=0, atol=1e-5,
                               err_msg=f"outputs; {context}")
    for i, key in enumerate(("last_state", "last_carry")[:len(states)]):
        np.testing.assert_allclose(trace[key], data[f"last{i}"], rtol=0, atol=1e-5,
                                   err_msg=f"{key}; {context}")

    grads = ref.rnn_numerical_gradients(*args, data["cotangent"], **options)
    pairs = [("x", "d_x"), ("kernel", "d_w0"), ("recurrent_kernel", "d_w1"),
             ("bias", "d_w2"), ("initial_state", "d_state0"), ("initial_carry", "d_state1")]
    for name_ref, name_keras in pairs[:len(pairs) if cell == "lstm" else -1]:
        want = data[name_keras]
        np.testing.assert_allclose(grads[name_ref], want, rtol=0,
                                   atol=1e-4 * np.max(np.abs(want)),
                                   err_msg=f"d_{name_ref}; {context}")
