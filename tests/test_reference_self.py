"""Self-checks of tests/reference.py: hand-written gradients against central
differences (all in float64), plus the Keras golden values.

Dimension letters: B batch, T timesteps, I input features, H units,
O output units.
"""

import itertools

import numpy as np
import pytest
import reference as ref

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
