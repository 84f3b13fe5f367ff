"""Tests of the layers besides GRU and Dense: Dropout, Activation, Flatten, Reshape,
Concatenate, Add, Embedding, RNN over one or several GRUCells, GRUCell on one step, and
InputLayer / Input. Each is compared with a NumPy computation forward and backward, and
the backward with central differences where there is a gradient.

Dimension letters: B batch, T timesteps, I input features, H units, V vocabulary, D vector
size.
"""

import numpy as np
import pytest
import reference as ref

import gru_py
from gru_py import layers
from gru_py.layers import (
    GRU,
    RNN,
    Activation,
    Add,
    Concatenate,
    Dropout,
    Embedding,
    Flatten,
    GRUCell,
    Input,
    InputLayer,
    Reshape,
)
from gru_py.utils import set_random_seed

B, T, I = 3, 4, 2

# Central differences step: a power of two, so x + EPS is (nearly always) exact in float32.
EPS = 2.0**-10
# The layers compute in float32. A central difference of a float32 function with step
# ~1e-3 carries rounding ~ 1e-7 * |f| / 1e-3 ~ 1e-4 * |f| plus a curvature term
# ~ EPS**2 * f''' ~ 1e-6: 2e-3 is well above both and well below any real error.
CD_TOL = {"rtol": 2e-3, "atol": 2e-3}
# float32 layer vs float64 reference (as in test_layers.py).
FWD_TOL = {"rtol": 1e-5, "atol": 1e-5}
GRAD_TOL = {"rtol": 1e-4, "atol": 2e-5}


def _rng(seed):
    return np.random.default_rng(seed)


def _normal(seed, shape, scale=1.0):
    """float32 values, returned in a float64 array that central differences can nudge."""
    return (scale * _rng(seed).standard_normal(shape)).astype(np.float32).astype(np.float64)


def _loss(outputs, weights):
    """sum(output * weight) in float64 over one output or a list of outputs."""
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    weights = weights if isinstance(weights, (list, tuple)) else [weights]
    return float(sum(np.sum(np.asarray(o, np.float64) * w) for o, w in zip(outputs, weights)))


def _central(f, array):
    return ref.numerical_gradient(f, array, eps=EPS)


# -- Dropout ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.9])
def test_dropout_is_identity_at_inference(rate):
    x = _normal(0, (B, T, I)).astype(np.float32)
    layer = Dropout(rate, seed=1)
    for y in (layer(x), layer(x, training=False)):
        np.testing.assert_array_equal(y, x)
    # Backward after an inference call passes the gradient through.
    g = _normal(1, (B, T, I)).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(g), g)


def test_dropout_rate_zero_is_identity_in_training():
    x = _normal(0, (B, T, I)).astype(np.float32)
    np.testing.assert_array_equal(Dropout(0.0, seed=1)(x, training=True), x)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_training_zeroes_a_fraction_rate_and_scales_the_rest(rate):
    n = 200 * 500
    x = np.ones((200, 500), np.float32)
    y = Dropout(rate, seed=7)(x, training=True)
    assert y.shape == x.shape and y.dtype == np.float32
    scale = np.float32(1.0) / np.float32(1.0 - rate)
    kept = y != 0
    # Every value is either dropped (0) or kept and scaled by 1 / (1 - rate).
    np.testing.assert_allclose(y[kept], scale, rtol=1e-6)
    # The dropped fraction is Binomial(n, rate) / n: standard deviation
    # sqrt(rate (1 - rate) / n) <= 0.0016 for n = 100000; allow 5 of them.
    sigma_fraction = np.sqrt(rate * (1 - rate) / n)
    assert abs((~kept).mean() - rate) < 5 * sigma_fraction
    # The mean is preserved: each output has mean 1 and variance rate / (1 - rate), so the
    # sample mean has standard deviation sqrt(rate / ((1 - rate) n)); allow 5 of them.
    sigma_mean = np.sqrt(rate / ((1 - rate) * n))
    assert abs(float(y.mean(dtype=np.float64)) - 1.0) < 5 * sigma_mean


def test_dropout_keeps_the_values_it_keeps():
    x = _normal(2, (50, 40)).astype(np.float32)
    y = Dropout(0.4, seed=3)(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / np.float32(0.6), rtol=1e-6)


@pytest.mark.parametrize("rate", [0.25, 0.6])
def test_dropout_backward_applies_the_same_mask(rate):
    x = _normal(3, (B, T, I + 3))
    w = _normal(4, x.shape)
    layer = Dropout(rate, seed=11)
    y = layer(x.astype(np.float32), training=True)
    grad = layer.backward(w.astype(np.float32))
    mask = (y != 0) / (1.0 - rate)
    np.testing.assert_allclose(grad, w * mask, rtol=1e-6)
    # Central differences: a layer with the same seed draws the same mask each time.
    numeric = _central(lambda: _loss(Dropout(rate, seed=11)(x.astype(np.float32),
                                                            training=True), w), x)
    np.testing.assert_allclose(grad, numeric, **CD_TOL)


@pytest.mark.parametrize("noise_shape, shared_axes", [
    ((None, 1, None), (1,)),
    ((None, 1, 1), (1, 2)),
    ((1, None, None), (0,)),
    ((B, 1, 5), (1,)),
])
def test_dropout_noise_shape_broadcasts_the_mask(noise_shape, shared_axes):
    x = np.abs(_normal(5, (B, 6, 5))).astype(np.float32) + 0.5  # never zero
    layer = Dropout(0.5, noise_shape=noise_shape, seed=2)
    y = layer(x, training=True)
    ratio = y / x
    # The mask is constant along the axes where noise_shape is 1.
    for axis in shared_axes:
        first = np.take(ratio, [0], axis=axis)
        np.testing.assert_allclose(ratio, np.broadcast_to(first, ratio.shape), rtol=1e-6)
    # Not everything is dropped or kept (so the check above is not vacuous).
    assert 0 < np.count_nonzero(y) < y.size
    g = _normal(6, x.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(g), g * ratio, rtol=1e-6)
    assert layer.compute_output_shape((None, 6, 5)) == (None, 6, 5)


def test_dropout_seeded_reproducibility():
    x = np.ones((20, 30), np.float32)
    a = Dropout(0.5, seed=42)
    b = Dropout(0.5, seed=42)
    first_a, first_b = a(x, training=True), b(x, training=True)
    np.testing.assert_array_equal(first_a, first_b)
    # Successive calls draw new masks, in the same sequence for the same seed.
    second_a, second_b = a(x, training=True), b(x, training=True)
    np.testing.assert_array_equal(second_a, second_b)
    assert not np.array_equal(first_a, second_a)
    assert not np.array_equal(Dropout(0.5, seed=43)(x, training=True), first_a)
    # Unseeded layers follow gru_py.utils.set_random_seed.
    set_random_seed(5)
    c = Dropout(0.5)(x, training=True)
    set_random_seed(5)
    np.testing.assert_array_equal(Dropout(0.5)(x, training=True), c)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.5", None])
def test_dropout_rate_out_of_range(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)


def test_dropout_accepts_numpy_float_rate():
    """Keras checks the range only and takes any number: a NumPy scalar such as a rate
    read from a hyperparameter grid is a valid rate."""
    for rate in (np.float32(0.25), np.float64(0.25), np.int64(0)):
        layer = Dropout(rate)
        assert layer.rate == pytest.approx(float(rate))


@pytest.mark.parametrize("noise_shape", [(0, 1, 4), (None, -1, 4), "abc", (None, 1.5, 4)])
def test_dropout_rejects_invalid_noise_shape_at_construction(noise_shape):
    """Keras (Dropout._validate_noise_shape) raises ValueError in the constructor for a
    noise_shape that is not a sequence of positive integers or None."""
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.5, noise_shape=noise_shape)


def test_dropout_config_round_trip():
    layer = Dropout(0.3, noise_shape=(None, 1, 4), seed=9, name="drop")
    clone = Dropout.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = np.ones((2, 3, 4), np.float32)
    np.testing.assert_array_equal(clone(x, training=True), layer(x, training=True))


# -- Activation -------------------------------------------------------------------------------

ACTIVATIONS = ["linear", "sigmoid", "tanh", "hard_sigmoid", "relu", "softmax", None]


def _activation_input(seed, shape):
    """Values in (-4, 4), kept 0.05 away from the kinks of relu (0) and hard_sigmoid (+-3),
    so that derivatives and central differences are well defined."""
    x = _rng(seed).uniform(-4, 4, shape)
    for kink in (-3.0, 0.0, 3.0):
        near = np.abs(x - kink) < 0.05
        x[near] = kink + 0.1
    return x.astype(np.float32).astype(np.float64)


def _activation_reference_backward(name, x, g):
    if name == "softmax":
        y = ref.activation("softmax", x)
        return y * (g - np.sum(g * y, axis=-1, keepdims=True))
    return g * ref.activation_derivative(name, x)


@pytest.mark.parametrize("shape", [(B, 5), (B, T, 5)])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_backward(name, shape):
    ref_name = name or "linear"
    x = _activation_input(0, shape)
    w = _normal(1, shape)
    layer = Activation(name)
    y = layer(x.astype(np.float32), training=True)
    assert y.shape == shape and y.dtype == np.float32
    np.testing.assert_allclose(y, ref.activation(ref_name, x), **FWD_TOL)
    grad = layer.backward(w.astype(np.float32))
    np.testing.assert_allclose(grad, _activation_reference_backward(ref_name, x, w), **GRAD_TOL)
    numeric = _central(lambda: _loss(Activation(name)(x.astype(np.float32)), w), x)
    np.testing.assert_allclose(grad, numeric, **CD_TOL)
    assert layer.compute_output_shape((None, None, 5)) == (None, None, 5)


def test_activation_softmax_rows_sum_to_one():
    y = Activation("softmax")(_activation_input(2, (B, T, 7)).astype(np.float32))
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-6)


def test_activation_errors():
    with pytest.raises(ValueError, match="gelu"):
        Activation("gelu")
    layer = Activation("tanh")
    layer(np.zeros((2, 3), np.float32))  # inference: nothing kept for backward
    with pytest.raises(RuntimeError):
        layer.backward(np.zeros((2, 3), np.float32))


# -- Flatten and Reshape ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(B, 5), (B, T, I), (B, 2, 3, 4)])
def test_flatten_forward_backward(shape):
    x = _normal(0, shape)
    layer = Flatten()
    y = layer(x.astype(np.float32), training=True)
    np.testing.assert_array_equal(y, x.reshape(shape[0], -1).astype(np.float32))
    w = _normal(1, y.shape)
    grad = layer.backward(w.astype(np.float32))
    np.testing.assert_array_equal(grad, w.reshape(shape).astype(np.float32))
    numeric = _central(lambda: _loss(Flatten()(x.astype(np.float32)), w), x)
    np.testing.assert_allclose(grad, numeric, **CD_TOL)


@pytest.mark.parametrize("input_shape, expected", [
    ((None, 5), (None, 5)),
    ((None, 3, 4), (None, 12)),
    ((None, None, 4), (None, None)),
    ((7, 2, 3, 4), (7, 24)),
])
def test_flatten_compute_output_shape(input_shape, expected):
    assert Flatten().compute_output_shape(input_shape) == expected


RESHAPE_TARGETS = [(24,), (-1,), (4, 6), (4, -1), (-1, 3), (2, 3, 4), (2, -1, 2)]


@pytest.mark.parametrize("target", RESHAPE_TARGETS)
def test_reshape_forward_backward(target):
    shape = (B, 6, 4)
    x = _normal(0, shape)
    layer = Reshape(target)
    y = layer(x.astype(np.float32), training=True)
    np.testing.assert_array_equal(y, x.reshape((B,) + target).astype(np.float32))
    assert y.shape[1:] == layer.compute_output_shape((None, 6, 4))[1:]
    w = _normal(1, y.shape)
    grad = layer.backward(w.astype(np.float32))
    np.testing.assert_array_equal(grad, w.reshape(shape).astype(np.float32))
    numeric = _central(lambda: _loss(Reshape(target)(x.astype(np.float32)), w), x)
    np.testing.assert_allclose(grad, numeric, **CD_TOL)


@pytest.mark.parametrize("target, input_shape, expected", [
    ((-1,), (None, 6, 4), (None, 24)),
    ((4, -1), (None, 6, 4), (None, 4, 6)),
    ((-1, 2), (None, None, 4), (None, None, 2)),
    ((4, 6), (None, None, 4), (None, 4, 6)),
    ((2, 3, 4), (5, 6, 4), (5, 2, 3, 4)),
])
def test_reshape_compute_output_shape(target, input_shape, expected):
    assert Reshape(target).compute_output_shape(input_shape) == expected


@pytest.mark.parametrize("target", [(0, 3), (-1, -1), (-2, 12), (3, 0), (-1, 0)])
def test_reshape_rejects_bad_target_shapes(target):
    with pytest.raises(ValueError, match="target_shape"):
        Reshape(target)


@pytest.mark.parametrize("target", [(5, 5), (5, -1), (25,), (7, -1, 2)])
def test_reshape_rejects_incompatible_sizes(target):
    layer = Reshape(target)
    with pytest.raises(ValueError, match="reshape"):
        layer.compute_output_shape((None, 6, 4))
    with pytest.raises(ValueError, match="reshape"):
        Reshape(target)(np.zeros((2, 6, 4), np.float32))


# -- Concatenate and Add --------------------------------------------------------------------

CONCAT_CASES = {
    # axis: shapes of the inputs (they differ on the axis only)
    -1: [(B, T, 2), (B, T, 3), (B, T, 1)],
    1: [(B, 2, I), (B, 3, I)],
    2: [(B, T, 1), (B, T, 4)],
}


@pytest.mark.parametrize("axis", sorted(CONCAT_CASES))
def test_concatenate_forward_backward(axis):
    shapes = CONCAT_CASES[axis]
    xs = [_normal(i, s) for i, s in enumerate(shapes)]
    layer = Concatenate(axis=axis)
    y = layer([x.astype(np.float32) for x in xs], training=True)
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=axis).astype(np.float32))
    w = _normal(9, y.shape)
    grads = layer.backward(w.astype(np.float32))
    assert len(grads) == len(xs)
    cuts = np.cumsum([s[axis] for s in shapes])[:-1]
    for grad, part, x in zip(grads, np.split(w, cuts, axis=axis), xs):
        assert grad.shape == x.shape
        np.testing.assert_array_equal(grad, part.astype(np.float32))
    for i, x in enumerate(xs):
        def f():
            return _loss(Concatenate(axis=axis)([v.astype(np.float32) for v in xs]), w)
        np.testing.assert_allclose(grads[i], _central(f, x), **CD_TOL)


@pytest.mark.parametrize("axis, shapes, expected", [
    (-1, [(None, T, 2), (None, T, 3)], (None, T, 5)),
    (-1, [(None, None, 2), (None, None, 3)], (None, None, 5)),
    (-1, [(None, 2), (None, None)], (None, None)),
    (1, [(None, 2, I), (None, 3, I)], (None, 5, I)),
    (1, [(None, None, I), (None, 3, I)], (None, None, I)),
    (1, [(None, 2), (None, 3), (None, 4)], (None, 9)),
])
def test_concatenate_compute_output_shape(axis, shapes, expected):
    assert Concatenate(axis=axis).compute_output_shape(shapes) == expected


@pytest.mark.parametrize("count", [2, 3])
def test_add_forward_backward(count):
    shape = (B, T, I + 1)
    xs = [_normal(i, shape) for i in range(count)]
    layer = Add()
    y = layer([x.astype(np.float32) for x in xs], training=True)
    np.testing.assert_allclose(y, np.sum(xs, axis=0), **FWD_TOL)
    w = _normal(9, shape)
    grads = layer.backward(w.astype(np.float32))
    assert len(grads) == count
    for i, x in enumerate(xs):
        np.testing.assert_array_equal(grads[i], w.astype(np.float32))

        def f():
            return _loss(Add()([v.astype(np.float32) for v in xs]), w)
        np.testing.assert_allclose(grads[i], _central(f, x), **CD_TOL)


@pytest.mark.parametrize("shapes, expected", [
    ([(None, T, 2), (None, T, 2)], (None, T, 2)),
    ([(None, None, 2), (None, None, 2), (None, None, 2)], (None, None, 2)),
])
def test_add_compute_output_shape(shapes, expected):
    assert Add().compute_output_shape(shapes) == expected


def test_add_of_one_tensor_twice_doubles_its_gradient():
    """In a model, a tensor fed twice to Add gets both gradients."""
    x = _normal(0, (B, 3)).astype(np.float32)
    y = _normal(1, (B, 2)).astype(np.float32)
    inputs = Input(shape=(3,))
    hidden = layers.Dense(2)(inputs)
    doubled = gru_py.Model(inputs, Add()([hidden, hidden]))
    inputs2 = Input(shape=(3,))
    single = gru_py.Model(inputs2, layers.Dense(2)(inputs2))
    kernel, bias = _normal(2, (3, 2)), _normal(3, (2,))
    doubled.set_weights([kernel, bias])
    single.set_weights([2 * kernel, 2 * bias])  # the same function
    grads = []
    for model in (doubled, single):
        model.compile(optimizer="sgd", loss="mse")
        grads.append(model.compute_loss_and_gradients(x, y)[1])
    for g_doubled, g_single in zip(*grads):
        np.testing.assert_allclose(g_doubled, 2 * g_single, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [Concatenate(), Add()], ids=["Concatenate", "Add"])
def test_merge_layers_reject_a_single_input(layer):
    with pytest.raises(ValueError, match="list"):
        layer(np.zeros((2, 3), np.float32))


def test_merge_layers_reject_mismatching_arrays():
    with pytest.raises(ValueError, match="same shape"):
        Add()([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="Concatenate"):
        Concatenate()([np.zeros((2, 3, 1)), np.zeros((2, 4, 1))])


@pytest.mark.parametrize("make, shapes", [
    (Concatenate, [(T, 2), (T + 1, 3)]),
    (Add, [(T, 2), (T, 3)]),
    (Add, [(T, 2), (T + 1, 2)]),
], ids=["Concatenate", "Add_last_axis", "Add_middle_axis"])
def test_merge_layers_reject_incompatible_symbolic_shapes(make, shapes):
    """Keras (merging/base_merge.py and concatenate.py) raises ValueError when the model is
    defined with shapes that cannot be merged, rather than at the first batch."""
    inputs = [Input(shape=s) for s in shapes]
    with pytest.raises(ValueError):
        make()(inputs)


# -- Embedding -------------------------------------------------------------------------------

V, D = 7, 3


def _embedding(seed=0):
    layer = Embedding(V, D)
    layer.build((None, None))
    layer.set_weights([_rng(seed).uniform(-1, 1, (V, D))])
    return layer


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "float32", "float64"])
def test_embedding_lookup(dtype):
    layer = _embedding()
    ids = np.array([[1, 0, 6], [6, 6, 2]]).astype(dtype)
    y = layer(ids)
    assert y.shape == (2, 3, D) and y.dtype == np.float32
    table = layer.get_weights()[0]
    np.testing.assert_array_equal(y, table[ids.astype(np.int64)])


def test_embedding_backward_scatter_adds_repeated_ids():
    layer = _embedding(1)
    ids = np.array([[1, 1, 2, 5], [2, 1, 0, 1], [6, 6, 6, 6]])
    w = _normal(2, ids.shape + (D,))
    layer(ids, training=True)
    layer.zero_gradients()
    assert layer.backward(w.astype(np.float32)) is None  # ids have no gradient
    expected = np.zeros((V, D))
    np.add.at(expected, ids.reshape(-1), w.reshape(-1, D))
    np.testing.assert_allclose(layer.gradients[0], expected, **GRAD_TOL)
    # Rows of ids that never occur get nothing.
    unused = sorted(set(range(V)) - set(ids.reshape(-1).tolist()))
    assert unused and not layer.gradients[0][unused].any()
    # Central differences on the table (the layer reads its own array).
    numeric = _central(lambda: _loss(layer(ids), w), layer.embeddings)
    np.testing.assert_allclose(layer.gradients[0], numeric, **CD_TOL)


def test_embedding_backward_accumulates_over_calls():
    layer = _embedding(1)
    ids = np.array([[3, 3]])
    g = np.ones((1, 2, D), np.float32)
    layer.zero_gradients()
    for _ in range(2):
        layer(ids, training=True)
        layer.backward(g)
    np.testing.assert_allclose(layer.gradients[0][3], 4.0)


@pytest.mark.parametrize("ids", [[-1], [V], [V + 10], [[0, 1], [2, 70]]])
def test_embedding_ids_out_of_range(ids):
    with pytest.raises(ValueError, match=r"\[0, 7\)"):
        _embedding()(np.array(ids))


@pytest.mark.parametrize("ids", [[1.5], [0.0, 2.25], [np.nan], [np.inf]])
def test_embedding_non_integer_floats(ids):
    with pytest.raises(ValueError, match="integer"):
        _embedding()(np.array(ids, dtype=np.float32))


def test_embedding_default_initializer_is_uniform_005():
    set_random_seed(0)
    layer = Embedding(1000, 50)
    layer.build((None, 4))
    table = layer.get_weights()[0]
    assert table.shape == (1000, 50) and table.dtype == np.float32
    assert table.min() >= -0.05 and table.max() <= 0.05
    # 50000 draws of U(-0.05, 0.05) reach within 0.005 of both ends, and their mean
    # (standard deviation 0.0289 / sqrt(50000) = 1.3e-4) is within 7e-4 of 0.
    assert table.min() < -0.045 and table.max() > 0.045
    assert abs(float(table.mean())) < 7e-4
    assert layer.get_config()["embeddings_initializer"] == {
        "class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05,
                                                  "seed": None}}


@pytest.mark.parametrize("input_shape, expected", [
    ((None, None), (None, None, D)),
    ((None, 5), (None, 5, D)),
    ((4,), (4, D)),
])
def test_embedding_compute_output_shape(input_shape, expected):
    assert Embedding(V, D).compute_output_shape(input_shape) == expected


def test_embedding_backward_without_training_call_raises():
    layer = _embedding()
    layer(np.array([[1, 2]]))
    with pytest.raises(RuntimeError):
        layer.backward(np.zeros((1, 2, D), np.float32))


# -- RNN over GRUCells -------------------------------------------------------------------------


def _set_random(layer, seed):
    rng = _rng(seed)
    layer.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in layer.weights])


def _cell_options(cell, go_backwards=False):
    return {"activation": cell.activation, "recurrent_activation": cell.recurrent_activation,
            "reset_after": cell.reset_after, "go_backwards": go_backwards}


def _cell_weights(cell):
    k, r, *rest = cell.get_weights()
    return k, r, (rest[0] if rest else None)


CELL_KWARGS = {
    "default": {},
    "reset_before": {"reset_after": False},
    "no_bias": {"use_bias": False},
    "relu_hard_sigmoid": {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
}


@pytest.mark.parametrize("initial", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kwargs", sorted(CELL_KWARGS))
def test_rnn_of_one_cell_equals_gru(kwargs, return_sequences, go_backwards, initial):
    H = 4
    options = {"return_sequences": return_sequences, "go_backwards": go_backwards}
    rnn = RNN(GRUCell(H, **CELL_KWARGS[kwargs]), **options)
    gru = GRU(H, **CELL_KWARGS[kwargs], **options)
    rnn.build((B, T, I))
    gru.build((B, T, I))
    _set_random(gru, 1)
    rnn.set_weights(gru.get_weights())
    x = _normal(2, (B, T, I)).astype(np.float32)
    h0 = _normal(3, (B, H)).astype(np.float32) if initial else None

    out_rnn = rnn(x, initial_state=h0, training=True)
    out_gru = gru(x, initial_state=h0, training=True)
    np.testing.assert_array_equal(out_rnn, out_gru)
    ref_seq, ref_last = ref.gru_forward(x, *_cell_weights(rnn.cell), h0,
                                        **_cell_options(rnn.cell, go_backwards))
    np.testing.assert_allclose(out_rnn, ref_seq if return_sequences else ref_last, **FWD_TOL)

    g = _normal(4, out_rnn.shape).astype(np.float32)
    for layer in (rnn, gru):
        layer.zero_gradients()
    d_x_rnn, d_h0_rnn = rnn.backward(g)
    d_x_gru, d_h0_gru = gru.backward(g)
    np.testing.assert_array_equal(d_x_rnn, d_x_gru)
    np.testing.assert_array_equal(d_h0_rnn[0], d_h0_gru[0])
    for g_rnn, g_gru in zip(rnn.gradients, gru.gradients):
        np.testing.assert_array_equal(g_rnn, g_gru)
    expected = ref.gru_backward(x, *_cell_weights(rnn.cell), h0,
                                g if return_sequences else None,
                                None if return_sequences else g,
                                **_cell_options(rnn.cell, go_backwards))
    np.testing.assert_allclose(d_x_rnn, expected["x"], **GRAD_TOL)
    np.testing.assert_allclose(d_h0_rnn[0], expected["initial_state"], **GRAD_TOL)
    names = ["kernel", "recurrent_kernel"] + (["bias"] if rnn.cell.use_bias else [])
    for name, grad in zip(names, rnn.gradients):
        np.testing.assert_allclose(grad, expected[name], **GRAD_TOL)


def _stack(a, b, go_backwards, return_sequences, return_state=True, cell_kwargs=None):
    """RNN([GRUCell(a), GRUCell(b)]) and the equivalent pair of GRU layers, built, with the
    same random weights."""
    cell_kwargs = cell_kwargs or {}
    rnn = RNN([GRUCell(a, **cell_kwargs), GRUCell(b, **cell_kwargs)],
              return_sequences=return_sequences, return_state=return_state,
              go_backwards=go_backwards)
    rnn.build((B, T, I))
    _set_random(rnn, 5)
    first = GRU(a, return_sequences=True, return_state=True, go_backwards=go_backwards,
                **cell_kwargs)
    second = GRU(b, return_sequences=return_sequences, return_state=True, **cell_kwargs)
    first.build((B, T, I))
    second.build((B, T, a))
    weights = rnn.get_weights()
    first.set_weights(weights[:len(first.weights)])
    second.set_weights(weights[len(first.weights):])
    return rnn, first, second


def _numpy_stack(x, cells, initial_states, go_backwards):
    """The stack step by step, as Keras' StackedRNNCells runs it: at each processing step
    the first cell reads x (time reversed with go_backwards), each further cell reads the
    new output of the cell below. Returns (outputs in processing order, last states)."""
    states = [np.zeros((x.shape[0], c.units)) if h is None else np.asarray(h, np.float64)
              for c, h in zip(cells, initial_states)]
    outputs = []
    steps = x.shape[1]
    for k in range(steps):
        t = steps - 1 - k if go_backwards else k
        inp = x[:, t]
        for i, cell in enumerate(cells):
            _, states[i] = ref.gru_forward(inp[:, None, :], *_cell_weights(cell), states[i],
                                           **_cell_options(cell))
            inp = states[i]
        outputs.append(inp)
    return np.stack(outputs, axis=1), states


@pytest.mark.parametrize("initial", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("reset_after", [True, False])
def test_stacked_rnn_equals_two_grus_and_numpy_steps(reset_after, return_sequences,
                                                      go_backwards, initial):
    a, b = 3, 2
    rnn, first, second = _stack(a, b, go_backwards, return_sequences,
                                cell_kwargs={"reset_after": reset_after})
    x = _normal(6, (B, T, I))
    initial_states = [_normal(7, (B, a)), _normal(8, (B, b))] if initial else [None, None]
    x32 = x.astype(np.float32)
    init32 = [None if h is None else h.astype(np.float32) for h in initial_states]

    out, state_a, state_b = rnn(x32, initial_state=init32 if initial else None, training=True)
    seq_a, last_a = first(x32, initial_state=init32[0], training=True)
    out2, last_b = second(seq_a, initial_state=init32[1], training=True)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(state_a, last_a)
    np.testing.assert_array_equal(state_b, last_b)

    ref_out, ref_states = _numpy_stack(x, rnn.cells, initial_states, go_backwards)
    np.testing.assert_allclose(out, ref_out if return_sequences else ref_out[:, -1], **FWD_TOL)
    np.testing.assert_allclose(state_a, ref_states[0], **FWD_TOL)
    np.testing.assert_allclose(state_b, ref_states[1], **FWD_TOL)

    # Backward, with gradients on the output and on both states.
    w_out, w_a, w_b = _normal(9, out.shape), _normal(10, (B, a)), _normal(11, (B, b))
    rnn.zero_gradients()
    first.zero_gradients()
    second.zero_gradients()
    d_x, d_init = rnn.backward(w_out.astype(np.float32), w_a.astype(np.float32),
                               w_b.astype(np.float32))
    d_seq_a, d_init_b = second.backward(w_out.astype(np.float32), w_b.astype(np.float32))
    d_x_chain, d_init_a = first.backward(d_seq_a, w_a.astype(np.float32))
    np.testing.assert_array_equal(d_x, d_x_chain)
    np.testing.assert_array_equal(d_init[0], d_init_a[0])
    np.testing.assert_array_equal(d_init[1], d_init_b[0])
    for g_rnn, g_chain in zip(rnn.gradients, first.gradients + second.gradients):
        np.testing.assert_array_equal(g_rnn, g_chain)

    # Central differences through the whole stack, on x and on both initial states.
    def f():
        outs = rnn(x.astype(np.float32),
                   initial_state=[h.astype(np.float32) for h in initial_states]
                   if initial else None)
        return _loss(outs, [w_out, w_a, w_b])
    np.testing.assert_allclose(d_x, _central(f, x), **CD_TOL)
    if initial:
        for i in range(2):
            np.testing.assert_allclose(d_init[i], _central(f, initial_states[i]), **CD_TOL)


def test_stacked_rnn_go_backwards_reverses_only_the_first_cell():
    """Reversing the input of a forward stack is not the same as go_backwards: only the
    first cell reads time in reverse (with two reversing cells the second would see the
    first's outputs backwards again)."""
    rnn, _, _ = _stack(3, 2, go_backwards=True, return_sequences=True, return_state=False)
    x = _normal(12, (B, T, I)).astype(np.float32)
    forward = RNN([GRUCell(3), GRUCell(2)], return_sequences=True)
    forward.build((B, T, I))
    forward.set_weights(rnn.get_weights())
    np.testing.assert_array_equal(rnn(x), forward(x[:, ::-1]))
    both_reversed = GRU(2, return_sequences=True, go_backwards=True)
    both_reversed.build((B, T, 3))
    both_reversed.set_weights(rnn.get_weights()[3:])
    first = GRU(3, return_sequences=True, go_backwards=True)
    first.build((B, T, I))
    first.set_weights(rnn.get_weights()[:3])
    assert not np.allclose(rnn(x), both_reversed(first(x)))


@pytest.mark.parametrize("return_sequences", [False, True])
def test_stacked_rnn_return_state_returns_every_cell_state(return_sequences):
    rnn, _, _ = _stack(3, 2, go_backwards=False, return_sequences=return_sequences)
    x = _normal(13, (B, T, I)).astype(np.float32)
    outputs = rnn(x)
    assert isinstance(outputs, tuple) and len(outputs) == 3
    out, state_a, state_b = outputs
    assert out.shape == ((B, T, 2) if return_sequences else (B, 2))
    assert state_a.shape == (B, 3) and state_b.shape == (B, 2)
    np.testing.assert_array_equal(state_b, out[:, -1] if return_sequences else out)
    if not return_sequences:
        assert not np.shares_memory(out, state_b)
    assert rnn.compute_output_shape((None, None, I)) == [
        (None, None, 2) if return_sequences else (None, 2), (None, 3), (None, 2)]


def test_stacked_rnn_weights_are_cell_by_cell():
    cells = [GRUCell(3), GRUCell(2, reset_after=False), GRUCell(4, use_bias=False)]
    rnn = RNN(cells)
    rnn.build((None, None, I))
    assert [w.shape for w in rnn.get_weights()] == [
        (I, 9), (3, 9), (2, 9),
        (3, 6), (2, 6), (6,),
        (2, 12), (4, 12)]
    # They are the cells' own arrays.
    own = [w for c in cells for w in c.weights]
    assert all(a is b for a, b in zip(rnn.weights, own))
    _set_random(rnn, 3)
    for cell, chunk in zip(cells, np.split(np.arange(8), [3, 6])):
        for w, index in zip(cell.get_weights(), chunk):
            np.testing.assert_array_equal(w, rnn.get_weights()[index])
    assert rnn.count_params() == sum(c.count_params() for c in cells)
    assert rnn.cell == cells


def test_stacked_rnn_rejects_wrong_number_of_initial_states():
    rnn, _, _ = _stack(3, 2, go_backwards=False, return_sequences=False)
    with pytest.raises(ValueError, match="initial_state"):
        rnn(np.zeros((B, T, I), np.float32), initial_state=[np.zeros((B, 3), np.float32)])


@pytest.mark.parametrize("kwargs", sorted(CELL_KWARGS))
@pytest.mark.parametrize("as_list", [True, False])
def test_gru_cell_one_step_equals_reference(kwargs, as_list):
    H = 4
    cell = GRUCell(H, **CELL_KWARGS[kwargs])
    cell.build((B, I))
    _set_random(cell, 14)
    x_t = _normal(15, (B, I)).astype(np.float32)
    h = _normal(16, (B, H)).astype(np.float32)
    out, states = cell(x_t, [h] if as_list else h)
    assert isinstance(states, list) and len(states) == 1
    np.testing.assert_array_equal(out, states[0])
    _, expected = ref.gru_forward(x_t[:, None, :], *_cell_weights(cell), h,
                                  **_cell_options(cell))
    np.testing.assert_allclose(out, expected, **FWD_TOL)
    # Stepping the cell T times is the GRU over the sequence.
    x = _normal(17, (B, T, I)).astype(np.float32)
    states = cell.get_initial_state(B)  # a list of one state, as in Keras 3
    for t in range(T):
        _, states = cell(x[:, t], states)
    gru = RNN(cell)
    np.testing.assert_allclose(states[0], gru(x), **FWD_TOL)


def test_gru_cell_initial_state_and_sizes():
    cell = GRUCell(5)
    [state] = cell.get_initial_state(3)
    assert state.shape == (3, 5) and state.dtype == np.float32 and not state.any()
    assert cell.state_size == cell.output_size == 5
    assert cell.get_initial_state(np.int64(2))[0].shape == (2, 5)


def test_gru_cell_rejects_sequences():
    cell = GRUCell(2)
    cell.build((B, I))
    with pytest.raises(ValueError, match="2-D"):
        cell(np.zeros((B, T, I), np.float32), [np.zeros((B, 2), np.float32)])


def test_rnn_config_round_trip_for_a_stack():
    rnn = RNN([GRUCell(3), GRUCell(2, reset_after=False)], return_sequences=True,
              go_backwards=True, return_state=True)
    clone = RNN.from_config(rnn.get_config())
    assert clone.get_config() == rnn.get_config()
    clone.build((B, T, I))
    rnn.build((B, T, I))
    _set_random(rnn, 4)
    clone.set_weights(rnn.get_weights())
    x = _normal(18, (B, T, I)).astype(np.float32)
    for u, v in zip(clone(x), rnn(x)):
        np.testing.assert_array_equal(u, v)


# -- InputLayer / Input --------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, shape", [
    ({"shape": (T, I)}, (None, T, I)),
    ({"shape": (None, I)}, (None, None, I)),
    ({"shape": (5,)}, (None, 5)),
    ({"shape": (T, I), "batch_size": 8}, (8, T, I)),
    ({"batch_shape": (None, None, I)}, (None, None, I)),
    ({"batch_shape": (2, T, I)}, (2, T, I)),
    ({"batch_shape": [None, 3]}, (None, 3)),
])
def test_input_shapes(kwargs, shape):
    tensor = Input(**kwargs)
    assert tensor.shape == shape
    assert tensor.dtype == "float32"
    layer = tensor.node.layer
    assert isinstance(layer, InputLayer)
    assert layer.batch_shape == shape
    assert layer.output is tensor
    direct = InputLayer(**kwargs)
    assert direct.batch_shape == shape and direct.output.shape == shape


@pytest.mark.parametrize("dtype, expected", [
    (None, "float32"), ("float32", "float32"), ("int32", "int32"), (np.int64, "int64"),
    ("uint8", "uint8"),
])
def test_input_dtype(dtype, expected):
    tensor = Input(shape=(T,), dtype=dtype, name=f"ids_{expected}")
    assert tensor.dtype == expected
    layer = tensor.node.layer
    assert layer.name == f"ids_{expected}"
    rebuilt = InputLayer.from_config(layer.get_config())
    assert rebuilt.batch_shape == layer.batch_shape
    assert rebuilt.output.dtype == expected


@pytest.mark.parametrize("kwargs", [
    {},
    {"shape": None, "batch_shape": None},
    {"shape": (3,), "batch_shape": (None, 3)},
    {"shape": (3,), "batch_shape": (None, 4)},
])
def test_input_needs_exactly_one_of_shape_and_batch_shape(kwargs):
    with pytest.raises(ValueError, match="shape"):
        Input(**kwargs)
    with pytest.raises(ValueError, match="shape"):
        InputLayer(**kwargs)


@pytest.mark.parametrize("kwargs", [
    {"shape": (0, 3)}, {"shape": (-1,)}, {"batch_shape": (0, 3)}, {"shape": (3,),
                                                                    "batch_size": 0},
])
def test_input_rejects_non_positive_sizes(kwargs):
    with pytest.raises(ValueError, match="positive"):
        Input(**kwargs)


def test_input_sparse_not_implemented():
    with pytest.raises(NotImplementedError):
        Input(shape=(3,), sparse=True)


def test_input_layer_passes_arrays_through():
    layer = InputLayer(shape=(T, I))
    x = _normal(19, (B, T, I)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), x)
