"""Tests of the GRU and Dense layers: Keras 3's constructor, weights, golden values and
configs, and the numbers against the independent float64 reference (tests/reference.py).

Dimension letters: B batch, T timesteps, I input features, H units, O output units.
"""

import inspect
import json

import numpy as np
import pytest
import reference as ref

from gru_py import initializers
from gru_py.layers import GRU, Dense

B, T, I, H, O = 3, 5, 4, 6, 5

# The layers compute in float32 and the reference in float64. Outputs are O(1) (bounded
# activations, weights in [-0.5, 0.5]), so float32 rounding through a few matmuls and T
# steps stays far below 1e-5.
FWD_TOL = {"rtol": 1e-5, "atol": 1e-5}
# Gradients sum T steps of products of O(1) terms; allow a little more float32 rounding.
GRAD_TOL = {"rtol": 1e-4, "atol": 2e-5}

# Keras 3 GRU constructor (API_SPEC 1.1), in positional order.
KERAS_GRU_DEFAULTS = [
    ("units", inspect.Parameter.empty),
    ("activation", "tanh"),
    ("recurrent_activation", "sigmoid"),
    ("use_bias", True),
    ("kernel_initializer", "glorot_uniform"),
    ("recurrent_initializer", "orthogonal"),
    ("bias_initializer", "zeros"),
    ("kernel_regularizer", None),
    ("recurrent_regularizer", None),
    ("bias_regularizer", None),
    ("activity_regularizer", None),
    ("kernel_constraint", None),
    ("recurrent_constraint", None),
    ("bias_constraint", None),
    ("dropout", 0.0),
    ("recurrent_dropout", 0.0),
    ("seed", None),
    ("return_sequences", False),
    ("return_state", False),
    ("go_backwards", False),
    ("stateful", False),
    ("unroll", False),
    ("reset_after", True),
    ("use_cudnn", "auto"),
]

# (activation, recurrent_activation) pairs the GRU accepts.
ACTIVATION_PAIRS = [
    ("tanh", "sigmoid"),
    ("relu", "sigmoid"),
    ("linear", "hard_sigmoid"),
    ("sigmoid", "tanh"),
]

# Keras golden values (API_SPEC): per sample, every unit equals these.
GOLDEN = {
    True: [0.5217289, 0.6371659, 0.39384964],
    False: [0.5144776, 0.6426879, 0.4020829],
}

GRU_UNSUPPORTED = [
    ("kernel_constraint", "non_neg"),
    ("recurrent_constraint", "unit_norm"),
    ("bias_constraint", "max_norm"),
]

DENSE_UNSUPPORTED = [
    ("kernel_constraint", "non_neg"),
    ("bias_constraint", "max_norm"),
    ("lora_rank", 2),
]

DENSE_ACTIVATIONS = [None, "linear", "relu", "sigmoid", "tanh", "hard_sigmoid", "softmax"]


# -- helpers ------------------------------------------------------------------------------


def _randomize(layer, seed, scale=0.5):
    """Overwrites the layer's weights with U(-scale, scale) values (biases included, so
    that a misplaced bias shows)."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.uniform(-scale, scale, w.shape) for w in layer.get_weights()])


def _gru(seed=0, features=I, **kwargs):
    """A built GRU(H) with random weights."""
    layer = GRU(H, **kwargs)
    layer.build((B, T, features))
    _randomize(layer, seed)
    return layer


def _inputs(seed, shape=(B, T, I)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _ref_args(layer):
    kernel, recurrent_kernel, *rest = layer.get_weights()
    return kernel, recurrent_kernel, (rest[0] if rest else None)


def _ref_options(layer):
    return {
        "activation": layer.activation,
        "recurrent_activation": layer.recurrent_activation,
        "reset_after": layer.reset_after,
        "go_backwards": layer.go_backwards,
    }


def _ref_forward(layer, x, initial_state=None):
    return ref.gru_forward(x, *_ref_args(layer), initial_state, **_ref_options(layer))


def _ref_backward(layer, x, initial_state, d_outputs, d_last_state):
    return ref.gru_backward(x, *_ref_args(layer), initial_state, d_outputs, d_last_state,
                            **_ref_options(layer))


def _param_count(units, features, reset_after, use_bias=True):
    bias = (6 if reset_after else 3) * units if use_bias else 0
    return 3 * units * (features + units) + bias


# -- GRU: constructor -----------------------------------------------------------------


def test_gru_signature_has_keras_order_and_defaults():
    params = list(inspect.signature(GRU).parameters.values())
    got = [(p.name, p.default) for p in params[:len(KERAS_GRU_DEFAULTS)]]
    assert got == KERAS_GRU_DEFAULTS


def test_gru_instance_defaults_match_keras():
    layer = GRU(4)
    assert layer.units == 4
    assert layer.activation == "tanh"
    assert layer.recurrent_activation == "sigmoid"
    assert layer.use_bias is True
    assert isinstance(layer.kernel_initializer, initializers.GlorotUniform)
    assert isinstance(layer.recurrent_initializer, initializers.Orthogonal)
    assert layer.recurrent_initializer.gain == 1.0
    assert isinstance(layer.bias_initializer, initializers.Zeros)
    assert layer.return_sequences is False
    assert layer.return_state is False
    assert layer.go_backwards is False
    assert layer.reset_after is True
    assert layer.unroll is False
    assert layer.use_cudnn == "auto"
    assert layer.seed is None
    assert layer.trainable is True
    assert layer.dtype == "float32"
    assert layer.built is False


def test_gru_activation_none_means_linear():
    assert GRU(2, activation=None).activation == "linear"


@pytest.mark.parametrize("units", [0, -1, 2.5, True])
def test_gru_rejects_invalid_units(units):
    with pytest.raises(ValueError, match="units"):
        GRU(units)


def test_gru_accepts_numpy_integer_units():
    assert GRU(np.int64(3)).units == 3


@pytest.mark.parametrize("use_cudnn", ["auto", True, False])
def test_gru_accepts_valid_use_cudnn(use_cudnn):
    assert GRU(2, use_cudnn=use_cudnn).use_cudnn == use_cudnn


@pytest.mark.parametrize("use_cudnn", ["yes", None, "cudnn"])
def test_gru_rejects_invalid_use_cudnn(use_cudnn):
    with pytest.raises(ValueError, match="use_cudnn"):
        GRU(2, use_cudnn=use_cudnn)


# -- GRU: weights ---------------------------------------------------------------------


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
def test_gru_weight_shapes_order_and_count(reset_after, use_bias):
    layer = GRU(H, reset_after=reset_after, use_bias=use_bias)
    layer.build((B, T, I))
    expected = [(I, 3 * H), (H, 3 * H)]
    if use_bias:
        expected.append((2, 3 * H) if reset_after else (3 * H,))
    weights = layer.get_weights()
    assert [w.shape for w in weights] == expected
    assert all(w.dtype == np.float32 for w in weights)
    np.testing.assert_array_equal(weights[0], layer.kernel)
    np.testing.assert_array_equal(weights[1], layer.recurrent_kernel)
    if use_bias:
        np.testing.assert_array_equal(weights[2], layer.bias)
    else:
        assert layer.bias is None
    assert layer.count_params() == _param_count(H, I, reset_after, use_bias)


def test_gru_default_initial_weights_follow_keras_initializers():
    layer = GRU(H)
    layer.build((B, T, I))
    limit = np.sqrt(6.0 / (I + 3 * H))  # glorot over the whole (I, 3H) kernel
    assert np.abs(layer.kernel).max() <= limit
    # orthogonal over the whole (H, 3H) matrix: its rows are orthonormal.
    rk = layer.recurrent_kernel.astype(np.float64)
    np.testing.assert_allclose(rk @ rk.T, np.eye(H), atol=1e-5)
    np.testing.assert_array_equal(layer.bias, 0.0)


@pytest.mark.parametrize(
    "units, features, reset_after, expected",
    [(128, 100, True, 88_320), (128, 100, False, 87_936), (3, 4, True, 81), (1, 1, False, 9)],
)
def test_gru_count_params(units, features, reset_after, expected):
    assert _param_count(units, features, reset_after) == expected
    layer = GRU(units, reset_after=reset_after)
    layer.build((None, None, features))
    assert layer.count_params() == expected


@pytest.mark.parametrize("make", [lambda: GRU(3), lambda: Dense(3)], ids=["gru", "dense"])
def test_count_params_before_build_raises(make):
    with pytest.raises(ValueError, match="built"):
        make().count_params()


# -- GRU: Keras golden values ----------------------------------------------------------


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("via", ["set_weights", "initializers"])
def test_gru_keras_golden_values(reset_after, via):
    x = np.arange(72, dtype=np.float32).reshape(3, 6, 4)
    if via == "initializers":
        layer = GRU(3, reset_after=reset_after,
                    kernel_initializer=initializers.Constant(0.01),
                    recurrent_initializer=initializers.Constant(0.02),
                    bias_initializer=initializers.Constant(0.03))
    else:
        layer = GRU(3, reset_after=reset_after)
        layer.build(x.shape)
        layer.set_weights([np.full(w.shape, c, dtype=np.float32)
                           for w, c in zip(layer.get_weights(), (0.01, 0.02, 0.03))])
    out = layer(x)
    if not reset_after:
        assert layer.get_weights()[2].shape == (9,)
    expected = np.repeat(np.array(GOLDEN[reset_after], dtype=np.float32)[:, None], 3, axis=1)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


# -- GRU: call ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gru_call_returns_float32_numpy(dtype):
    layer = _gru(seed=1)
    out = layer(_inputs(2).astype(dtype))
    assert type(out) is np.ndarray
    assert out.dtype == np.float32


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
def test_gru_output_structure_and_shapes(return_sequences, return_state):
    layer = _gru(seed=3, return_sequences=return_sequences, return_state=return_state)
    result = layer(_inputs(4))
    out_shape = (B, T, H) if return_sequences else (B, H)
    if return_state:
        assert isinstance(result, tuple) and len(result) == 2
        out, state = result
        assert state.shape == (B, H) and state.dtype == np.float32
        assert type(state) is np.ndarray
    else:
        assert type(result) is np.ndarray
        out = result
    assert out.shape == out_shape and out.dtype == np.float32


def test_gru_return_state_without_sequences_gives_two_independent_arrays():
    layer = _gru(seed=5, return_state=True)
    out, state = layer(_inputs(6))
    np.testing.assert_array_equal(out, state)
    assert out is not state
    assert not np.shares_memory(out, state)
    saved = state.copy()
    out += 1.0
    np.testing.assert_array_equal(state, saved)


def test_gru_return_state_with_sequences_state_is_last_output():
    layer = _gru(seed=7, return_sequences=True, return_state=True)
    outputs, state = layer(_inputs(8))
    np.testing.assert_array_equal(outputs[:, -1], state)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("activation, recurrent_activation", ACTIVATION_PAIRS)
def test_gru_forward_matches_reference(reset_after, use_bias, go_backwards, activation,
                                       recurrent_activation):
    layer = _gru(seed=11, reset_after=reset_after, use_bias=use_bias,
                 go_backwards=go_backwards, activation=activation,
                 recurrent_activation=recurrent_activation, return_sequences=True,
                 return_state=True)
    x = _inputs(12)
    outputs, state = layer(x)
    ref_outputs, ref_state = _ref_forward(layer, x)
    np.testing.assert_allclose(outputs, ref_outputs, **FWD_TOL)
    np.testing.assert_allclose(state, ref_state, **FWD_TOL)


@pytest.mark.parametrize("as_list", [False, True], ids=["array", "list_of_one"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gru_initial_state(as_list, go_backwards):
    layer = _gru(seed=13, return_sequences=True, go_backwards=go_backwards)
    x = _inputs(14)
    h0 = np.random.default_rng(15).uniform(-1, 1, (B, H)).astype(np.float32)
    out = layer(x, initial_state=[h0] if as_list else h0)
    ref_outputs, _ = _ref_forward(layer, x, h0)
    np.testing.assert_allclose(out, ref_outputs, **FWD_TOL)
    # A non-zero initial state must change the result.
    assert not np.allclose(out, layer(x), atol=1e-3)


@pytest.mark.parametrize(
    "bad_state",
    [np.zeros((B, H + 1), np.float32), np.zeros((B + 1, H), np.float32),
     [np.zeros((B, H), np.float32)] * 2],
    ids=["units", "batch", "list_of_two"],
)
def test_gru_rejects_bad_initial_state(bad_state):
    layer = _gru(seed=16)
    with pytest.raises(ValueError):
        layer(_inputs(17), initial_state=bad_state)


def test_gru_go_backwards_outputs_in_processing_order():
    forward = _gru(seed=19, return_sequences=True)
    backward = _gru(seed=19, return_sequences=True, go_backwards=True)
    x = _inputs(20)
    # Processing x backwards is processing the time-reversed x forwards.
    np.testing.assert_allclose(backward(x), forward(np.ascontiguousarray(x[:, ::-1])),
                               **FWD_TOL)
    ref_outputs, _ = _ref_forward(backward, x)
    np.testing.assert_allclose(backward(x), ref_outputs, **FWD_TOL)


@pytest.mark.parametrize("layout", ["fortran", "strided", "list"])
def test_gru_accepts_non_contiguous_and_nested_list_inputs(layout):
    layer = _gru(seed=21, return_sequences=True)
    x = _inputs(22)
    if layout == "fortran":
        given = np.asfortranarray(x)
    elif layout == "strided":
        wide = np.zeros((B, 2 * T, I), np.float32)
        wide[:, ::2] = x
        given = wide[:, ::2]
    else:
        given = x.tolist()
    np.testing.assert_allclose(layer(given), _ref_forward(layer, x)[0], **FWD_TOL)


def test_gru_unroll_and_zero_dropout_are_accepted_and_change_nothing():
    x = _inputs(24)
    plain = _gru(seed=23)
    other = _gru(seed=23, unroll=True, dropout=0.0, recurrent_dropout=0.0)
    np.testing.assert_array_equal(other(x), plain(x))


def test_gru_call_is_deterministic_and_does_not_modify_inputs():
    layer = _gru(seed=25, return_sequences=True)
    x = _inputs(26)
    saved = x.copy()
    first = layer(x, training=True)
    np.testing.assert_array_equal(x, saved)
    np.testing.assert_array_equal(layer(x), first)


# -- GRU: backward --------------------------------------------------------------------


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_gru_backward_matches_reference(reset_after, use_bias, go_backwards,
                                        return_sequences):
    layer = _gru(seed=31, reset_after=reset_after, use_bias=use_bias,
                 go_backwards=go_backwards, return_sequences=return_sequences)
    rng = np.random.default_rng(32)
    x = _inputs(33)
    h0 = rng.uniform(-1, 1, (B, H)).astype(np.float32)
    out = layer(x, initial_state=h0, training=True)
    d_out = rng.standard_normal(out.shape).astype(np.float32)
    d_x, (d_h0,) = layer.backward(d_out)
    expected = _ref_backward(layer, x, h0, d_out if return_sequences else None,
                             None if return_sequences else d_out)
    np.testing.assert_allclose(d_x, expected["x"], **GRAD_TOL)
    np.testing.assert_allclose(d_h0, expected["initial_state"], **GRAD_TOL)
    names = ["kernel", "recurrent_kernel"] + (["bias"] if use_bias else [])
    assert len(layer.gradients) == len(names)
    for grad, name in zip(layer.gradients, names):
        np.testing.assert_allclose(grad, expected[name], **GRAD_TOL, err_msg=name)


@pytest.mark.parametrize("activation, recurrent_activation", ACTIVATION_PAIRS)
def test_gru_backward_matches_reference_for_activations(activation, recurrent_activation):
    layer = _gru(seed=35, activation=activation, recurrent_activation=recurrent_activation,
                 return_sequences=True, return_state=True)
    rng = np.random.default_rng(36)
    x = _inputs(37)
    outputs, state = layer(x, training=True)
    d_outputs = rng.standard_normal(outputs.shape).astype(np.float32)
    d_state = rng.standard_normal(state.shape).astype(np.float32)
    d_x, (d_h0,) = layer.backward(d_outputs, d_state)
    expected = _ref_backward(layer, x, None, d_outputs, d_state)
    np.testing.assert_allclose(d_x, expected["x"], **GRAD_TOL)
    np.testing.assert_allclose(d_h0, expected["initial_state"], **GRAD_TOL)
    for grad, name in zip(layer.gradients, ["kernel", "recurrent_kernel", "bias"]):
        np.testing.assert_allclose(grad, expected[name], **GRAD_TOL, err_msg=name)


def test_gru_backward_accumulates_parameter_gradients():
    layer = _gru(seed=41, return_sequences=True)
    x = _inputs(42)
    d_out = np.random.default_rng(43).standard_normal((B, T, H)).astype(np.float32)
    layer(x, training=True)
    first_dx, first_dh0 = layer.backward(d_out)
    once = [g.copy() for g in layer.gradients]
    assert all(np.abs(g).max() > 0 for g in once)
    layer(x, training=True)
    second_dx, second_dh0 = layer.backward(d_out)
    for grad, single in zip(layer.gradients, once):
        np.testing.assert_allclose(grad, 2 * single, rtol=1e-6, atol=1e-7)
    # Input and state gradients are fresh arrays, not accumulated.
    np.testing.assert_array_equal(second_dx, first_dx)
    np.testing.assert_array_equal(second_dh0, first_dh0)
    layer.zero_gradients()
    assert all(not g.any() for g in layer.gradients)


def test_gru_backward_adds_d_output_and_d_state_without_sequences():
    x = _inputs(46)
    rng = np.random.default_rng(47)
    d_out = rng.standard_normal((B, H)).astype(np.float32)
    d_state = rng.standard_normal((B, H)).astype(np.float32)

    with_state = _gru(seed=45, return_state=True)
    with_state(x, training=True)
    d_x, (d_h0,) = with_state.backward(d_out, d_state)

    summed = _gru(seed=45, return_state=True)
    summed(x, training=True)
    sum_dx, (sum_dh0,) = summed.backward(d_out + d_state)

    np.testing.assert_allclose(d_x, sum_dx, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(d_h0, sum_dh0, rtol=1e-6, atol=1e-7)
    for a, b in zip(with_state.gradients, summed.gradients):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    expected = _ref_backward(with_state, x, None, None, d_out + d_state)
    np.testing.assert_allclose(d_x, expected["x"], **GRAD_TOL)
    np.testing.assert_allclose(with_state.gradients[0], expected["kernel"], **GRAD_TOL)


@pytest.mark.parametrize(
    "return_sequences, d_output, d_state",
    [(False, (B, H), (B + 1, H)), (False, (B, T, H), None), (True, (B, H), None),
     (True, (B, T, H), (B, T, H))],
    ids=["state_batch", "sequence_for_last", "last_for_sequence", "sequence_for_state"],
)
def test_gru_backward_rejects_wrong_gradient_shapes(return_sequences, d_output, d_state):
    layer = _gru(seed=48, return_sequences=return_sequences, return_state=True)
    layer(_inputs(49), training=True)
    with pytest.raises(ValueError):
        layer.backward(np.zeros(d_output, np.float32),
                       None if d_state is None else np.zeros(d_state, np.float32))


@pytest.mark.parametrize("history", ["never_called", "inference_call", "already_consumed"])
def test_gru_backward_without_training_call_raises(history):
    layer = _gru(seed=50)
    x = _inputs(51)
    d_out = np.ones((B, H), np.float32)
    if history == "inference_call":
        layer(x, training=True)
        layer(x)  # training=False replaces the training call
    elif history == "already_consumed":
        layer(x, training=True)
        layer.backward(d_out)
    with pytest.raises(RuntimeError):
        layer.backward(d_out)


# -- set_weights / get_weights ------------------------------------------------------------


def _bad_weights(case, weights):
    weights = [w.copy() for w in weights]
    if case == "too_few":
        return weights[:-1]
    if case == "too_many":
        return weights + [weights[-1]]
    if case == "kernel_transposed":
        weights[0] = weights[0].T
        return weights
    if case == "bias_flat":
        weights[2] = weights[2].reshape(-1)
        return weights
    if case == "nan":
        weights[2][0, 1] = np.nan
        return weights
    if case == "inf":
        weights[1][0, 0] = np.inf
        return weights
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["too_few", "too_many", "kernel_transposed", "bias_flat", "nan", "inf"])
def test_gru_set_weights_rejects_bad_values_and_changes_nothing(case):
    layer = _gru(seed=52)
    before = layer.get_weights()
    new = [w + 1.0 for w in before]
    with pytest.raises(ValueError):
        layer.set_weights(_bad_weights(case, new))
    for w, old in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(w, old)


def test_gru_set_weights_rejects_2d_bias_when_reset_before():
    layer = _gru(seed=53, reset_after=False)
    kernel, recurrent_kernel, _ = layer.get_weights()
    with pytest.raises(ValueError):
        layer.set_weights([kernel, recurrent_kernel, np.zeros((2, 3 * H), np.float32)])


def test_get_weights_returns_copies_and_set_weights_copies_in():
    layer = _gru(seed=54)
    weights = layer.get_weights()
    weights[0][...] = 7.0
    assert not np.any(layer.get_weights()[0] == 7.0)
    new = [np.full(w.shape, 0.25, np.float32) for w in weights]
    layer.set_weights(new)
    new[1][...] = 9.0
    np.testing.assert_array_equal(layer.get_weights()[1], 0.25)


# -- unsupported features -------------------------------------------------------------


@pytest.mark.parametrize("arg, value", GRU_UNSUPPORTED)
def test_gru_unsupported_argument_raises_naming_it(arg, value):
    with pytest.raises(NotImplementedError, match=rf"\b{arg}="):
        GRU(3, **{arg: value})


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("built", [False, True])
def test_gru_rejects_2d_input(built):
    layer = _gru(seed=57) if built else GRU(H)
    with pytest.raises(ValueError, match=r"3-D") as info:
        layer(np.zeros((3, 4), np.float32))
    assert "(3, 4)" in str(info.value)


@pytest.mark.parametrize("shape", [(B, T, I + 1), (B, T, I - 1), (B, T, I, 1)])
def test_gru_rejects_wrong_input_shape_after_build(shape):
    layer = _gru(seed=58)
    with pytest.raises(ValueError, match=r"3-D"):
        layer(np.zeros(shape, np.float32))


@pytest.mark.parametrize("arg", ["activation", "recurrent_activation"])
@pytest.mark.parametrize("name", ["swish_typo", "softmax", "Tanh"])
def test_gru_rejects_bad_activation(arg, name):
    with pytest.raises(ValueError, match=arg):
        GRU(3, **{arg: name})


def test_gru_rejects_unknown_keyword():
    with pytest.raises(ValueError, match="Unrecognized keyword arguments"):
        GRU(3, return_sequence=True)


@pytest.mark.parametrize("cls", [GRU, Dense])
@pytest.mark.parametrize("dtype", ["float64", np.float64, "float16"])
def test_non_float32_dtype_not_implemented(cls, dtype):
    with pytest.raises(NotImplementedError, match="dtype"):
        cls(3, dtype=dtype)


@pytest.mark.parametrize("cls", [GRU, Dense])
def test_float32_dtype_accepted(cls):
    assert cls(3, dtype="float32").dtype == "float32"


# -- config ---------------------------------------------------------------------------


GRU_CONFIGS = [
    {},
    {"name": "my_gru", "activation": None, "recurrent_activation": "hard_sigmoid",
     "use_bias": False, "return_sequences": True, "go_backwards": True},
    {"reset_after": False, "return_state": True, "unroll": True, "use_cudnn": False,
     "seed": 3, "trainable": False},
    {"kernel_initializer": initializers.Constant(0.01),
     "recurrent_initializer": initializers.Orthogonal(gain=2.0, seed=4),
     "bias_initializer": "ones"},
]


@pytest.mark.parametrize("kwargs", GRU_CONFIGS)
def test_gru_config_round_trip(kwargs):
    layer = GRU(H, **kwargs)
    config = layer.get_config()
    if "name" in kwargs:
        assert config["name"] == kwargs["name"]
    restored = GRU.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config  # includes the (auto-generated) name
    assert restored.name == layer.name

    x = _inputs(61)
    layer.build(x.shape)
    _randomize(layer, 62)
    restored.build(x.shape)
    restored.set_weights(layer.get_weights())
    first, second = layer(x), restored(x)
    if isinstance(first, tuple):
        assert isinstance(second, tuple) and len(second) == len(first)
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("cls, prefix", [(GRU, "gru"), (Dense, "dense")])
def test_automatic_names_are_prefixed_and_distinct(cls, prefix):
    names = [cls(2).name for _ in range(4)]
    assert all(name.startswith(prefix) for name in names)
    assert len(set(names)) == len(names)


# -- Dense ----------------------------------------------------------------------------


def _dense(seed=0, features=I, **kwargs):
    layer = Dense(O, **kwargs)
    layer.build((B, features))
    _randomize(layer, seed)
    return layer


def _dense_bias(layer):
    return layer.get_weights()[1] if layer.use_bias else None


def _dense_activation(layer):
    return "linear" if layer.activation is None else layer.activation


def test_dense_defaults():
    layer = Dense(4)
    assert layer.activation == "linear"
    assert layer.use_bias is True
    assert isinstance(layer.kernel_initializer, initializers.GlorotUniform)
    assert isinstance(layer.bias_initializer, initializers.Zeros)


@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_weights_and_count_params(use_bias):
    layer = Dense(O, use_bias=use_bias)
    layer.build((B, I))
    weights = layer.get_weights()
    expected = [(I, O)] + ([(O,)] if use_bias else [])
    assert [w.shape for w in weights] == expected
    assert all(w.dtype == np.float32 for w in weights)
    assert layer.count_params() == I * O + (O if use_bias else 0)
    if use_bias:
        np.testing.assert_array_equal(weights[1], 0.0)
    assert np.abs(weights[0]).max() <= np.sqrt(6.0 / (I + O))


@pytest.mark.parametrize("units", [0, -2, 1.5, False])
def test_dense_rejects_invalid_units(units):
    with pytest.raises(ValueError, match="units"):
        Dense(units)


@pytest.mark.parametrize("activation", DENSE_ACTIVATIONS)
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_forward_matches_reference(activation, use_bias):
    layer = _dense(seed=71, activation=activation, use_bias=use_bias)
    x = _inputs(72, (B, I))
    out = layer(x)
    assert type(out) is np.ndarray and out.dtype == np.float32 and out.shape == (B, O)
    expected = ref.dense_forward(x, layer.get_weights()[0], _dense_bias(layer),
                                 _dense_activation(layer))
    np.testing.assert_allclose(out, expected, **FWD_TOL)


def test_dense_softmax_rows_sum_to_one():
    layer = _dense(seed=73, activation="softmax")
    out = layer(_inputs(74, (B, 2, I)) * 10.0)
    assert np.all(out >= 0)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("activation", ["linear", "softmax"])
def test_dense_applies_on_last_axis_of_3d_input(activation):
    layer = _dense(seed=75, activation=activation)
    x = _inputs(76, (B, T, I))
    out = layer(x)
    assert out.shape == (B, T, O)
    for t in range(T):
        np.testing.assert_allclose(out[:, t], layer(np.ascontiguousarray(x[:, t])),
                                   rtol=1e-6, atol=1e-7)
    expected = ref.dense_forward(x, *layer.get_weights(), activation)
    np.testing.assert_allclose(out, expected, **FWD_TOL)


@pytest.mark.parametrize("activation", DENSE_ACTIVATIONS)
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("shape", [(B, I), (B, T, I)], ids=["2d", "3d"])
def test_dense_backward_matches_reference(activation, use_bias, shape):
    layer = _dense(seed=77, activation=activation, use_bias=use_bias)
    x = _inputs(78, shape)
    out = layer(x, training=True)
    d_y = np.random.default_rng(79).standard_normal(out.shape).astype(np.float32)
    d_x = layer.backward(d_y)
    expected = ref.dense_backward(x, layer.get_weights()[0], _dense_bias(layer), d_y,
                                  _dense_activation(layer))
    assert d_x.shape == x.shape
    np.testing.assert_allclose(d_x, expected["x"], **GRAD_TOL)
    np.testing.assert_allclose(layer.gradients[0], expected["kernel"], **GRAD_TOL)
    if use_bias:
        np.testing.assert_allclose(layer.gradients[1], expected["bias"], **GRAD_TOL)
    else:
        assert len(layer.gradients) == 1


def test_dense_backward_accumulates():
    layer = _dense(seed=81, activation="tanh")
    x = _inputs(82, (B, I))
    d_y = np.random.default_rng(83).standard_normal((B, O)).astype(np.float32)
    layer(x, training=True)
    first = layer.backward(d_y)
    once = [g.copy() for g in layer.gradients]
    layer(x, training=True)
    second = layer.backward(d_y)
    np.testing.assert_array_equal(first, second)
    for grad, single in zip(layer.gradients, once):
        np.testing.assert_allclose(grad, 2 * single, rtol=1e-6, atol=1e-7)


def test_dense_backward_rejects_wrong_gradient_shape():
    layer = _dense(seed=88)
    layer(_inputs(89, (B, I)), training=True)
    with pytest.raises(ValueError):
        layer.backward(np.zeros((B, O + 1), np.float32))


def test_trainable_false_moves_weights_to_non_trainable():
    layer = GRU(2, trainable=False)
    layer.build((1, 1, 3))
    assert layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == 3


@pytest.mark.parametrize("history", ["never_called", "inference_call"])
def test_dense_backward_without_training_call_raises(history):
    layer = _dense(seed=84)
    if history == "inference_call":
        layer(_inputs(85, (B, I)))
    with pytest.raises(RuntimeError):
        layer.backward(np.ones((B, O), np.float32))


@pytest.mark.parametrize("arg, value", DENSE_UNSUPPORTED)
def test_dense_unsupported_argument_raises_naming_it(arg, value):
    with pytest.raises(NotImplementedError, match=rf"\b{arg}="):
        Dense(3, **{arg: value})


@pytest.mark.parametrize("shape", [(I,), ()], ids=["1d", "scalar"])
@pytest.mark.parametrize("built", [False, True])
def test_dense_rejects_input_below_2d(shape, built):
    layer = _dense(seed=86) if built else Dense(O)
    with pytest.raises(ValueError):
        layer(np.zeros(shape, np.float32))


@pytest.mark.parametrize("shape", [(B, I + 1), (B, T, I - 1)])
def test_dense_rejects_wrong_features_after_build(shape):
    layer = _dense(seed=87)
    with pytest.raises(ValueError, match="Dense"):
        layer(np.zeros(shape, np.float32))


@pytest.mark.parametrize("name", ["swish_typo", "Softmax"])
def test_dense_rejects_unknown_activation(name):
    with pytest.raises(ValueError, match="activation"):
        Dense(3, activation=name)


def test_dense_rejects_unknown_keyword():
    with pytest.raises(ValueError, match="Unrecognized keyword arguments"):
        Dense(3, activaton="relu")


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"name": "head", "activation": "softmax", "use_bias": False},
     {"kernel_initializer": initializers.GlorotUniform(seed=5), "bias_initializer": "ones",
      "trainable": False}],
)
def test_dense_config_round_trip(kwargs):
    layer = Dense(O, **kwargs)
    config = layer.get_config()
    restored = Dense.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config
    x = _inputs(91, (B, I))
    layer.build(x.shape)
    _randomize(layer, 92)
    restored.build(x.shape)
    restored.set_weights(layer.get_weights())
    np.testing.assert_array_equal(restored(x), layer(x))
