"""Tests of gru_py.losses against independent float64 NumPy implementations of Keras 3's
formulas (API_SPEC 6): per-sample values, every reduction, sample weights (1-D and
temporal), label smoothing, from_logits both ways, the unnormalised-Dense wart of
categorical_crossentropy, Keras' rank-alignment rules, gradients of the reduced loss
against central differences, get()/serialize() and errors."""

import json
import warnings

import numpy as np
import pytest

from gru_py import losses
from gru_py.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    Loss,
    LossFunctionWrapper,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)

EPS = 1e-7  # Keras' backend epsilon
RTOL = 1e-6  # float32 core vs float64 reference


def assert_close(actual, expected, rtol=RTOL, atol=1e-7):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=rtol,
                               atol=atol)


# -- float64 references, written from Keras' formulas ---------------------------------


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def ref_mse(y, p):
    return np.mean((_f64(y) - _f64(p)) ** 2, axis=-1)


def ref_mae(y, p):
    return np.mean(np.abs(_f64(y) - _f64(p)), axis=-1)


def ref_huber(y, p, delta=1.0):
    e = _f64(p) - _f64(y)
    a = np.abs(e)
    return np.mean(np.where(a <= delta, 0.5 * e * e, delta * a - 0.5 * delta * delta), axis=-1)


def _log_softmax(p):
    p = _f64(p)
    shifted = p - p.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def ref_cce(y, p, from_logits=False, label_smoothing=0.0):
    y, p = _f64(y), _f64(p)
    if label_smoothing:
        y = y * (1 - label_smoothing) + label_smoothing / y.shape[-1]
    if from_logits:
        log_q = _log_softmax(p)
    else:
        log_q = np.log(np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS))
    return -np.sum(y * log_q, axis=-1)


def ref_scce(labels, p, from_logits=False):
    labels = np.asarray(labels).astype(np.int64)
    return ref_cce(np.eye(np.shape(p)[-1])[labels], p, from_logits)


def ref_bce(y, p, from_logits=False, label_smoothing=0.0):
    y, p = _f64(y), _f64(p)
    if label_smoothing:
        y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:  # the stable form of Keras' TensorFlow and JAX backends
        elementwise = np.maximum(p, 0) - p * y + np.log1p(np.exp(-np.abs(p)))
    else:
        q = np.clip(p, EPS, 1 - EPS)
        elementwise = -(y * np.log(q) + (1 - y) * np.log(1 - q))
    return np.mean(elementwise, axis=-1)


def ref_reduce(values, sample_weight=None, reduction="sum_over_batch_size"):
    values = _f64(values)
    sw = None
    if sample_weight is not None:
        sw = _f64(sample_weight)
        sw = sw.reshape(sw.shape + (1,) * (values.ndim - sw.ndim))
        sw = np.broadcast_to(sw, values.shape)
        values = values * sw
    if reduction in (None, "none"):
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean_with_sample_weight" and sw is not None:
        return values.sum() / sw.sum()
    return values.sum() / values.size


# -- data ----------------------------------------------------------------------------

RNG_SEED = 20240611


def _rng(offset=0):
    return np.random.default_rng(RNG_SEED + offset)


def _f32(a):
    return np.asarray(a, dtype=np.float32)


def make_case(name, shape, seed=0):
    """(y_true, y_pred, per-sample reference fn, loss factory) with y_pred away from every
    kink and clip boundary, so that central differences are valid."""
    rng = _rng(seed)
    classes = shape[-1]
    if name == "mse":
        y, p = _f32(rng.normal(size=shape)), _f32(rng.normal(size=shape))
        return y, p, ref_mse, MeanSquaredError
    if name == "mae":
        y = _f32(rng.normal(size=shape))
        step = rng.uniform(0.05, 1.0, size=shape) * rng.choice([-1, 1], size=shape)
        return y, _f32(y + step), ref_mae, MeanAbsoluteError
    if name == "huber":
        y = _f32(rng.normal(size=shape))
        small = rng.uniform(0.0, 0.4, size=shape)
        large = rng.uniform(0.6, 2.0, size=shape)
        step = np.where(rng.random(size=shape) < 0.5, small, large) * rng.choice([-1, 1], shape)
        return (y, _f32(y + step), lambda yy, pp: ref_huber(yy, pp, 0.5),
                lambda **kw: Huber(delta=0.5, **kw))
    labels = rng.integers(0, classes, size=shape[:-1])
    onehot = _f32(np.eye(classes)[labels])
    probs = _f32(rng.uniform(0.2, 1.0, size=shape))
    logits = _f32(rng.normal(scale=2.0, size=shape))
    if name == "cce":
        return onehot, probs, ref_cce, CategoricalCrossentropy
    if name == "cce_logits":
        return (onehot, logits, lambda y, p: ref_cce(y, p, True),
                lambda **kw: CategoricalCrossentropy(from_logits=True, **kw))
    if name == "cce_smooth":
        return (onehot, probs, lambda y, p: ref_cce(y, p, False, 0.1),
                lambda **kw: CategoricalCrossentropy(label_smoothing=0.1, **kw))
    if name == "cce_logits_smooth":
        return (onehot, logits, lambda y, p: ref_cce(y, p, True, 0.2),
                lambda **kw: CategoricalCrossentropy(from_logits=True, label_smoothing=0.2,
                                                     **kw))
    if name == "scce":
        return labels, probs, ref_scce, SparseCategoricalCrossentropy
    if name == "scce_logits":
        return (labels, logits, lambda y, p: ref_scce(y, p, True),
                lambda **kw: SparseCategoricalCrossentropy(from_logits=True, **kw))
    binary = _f32(rng.integers(0, 2, size=shape))
    if name == "bce":
        return binary, _f32(rng.uniform(0.05, 0.95, size=shape)), ref_bce, BinaryCrossentropy
    if name == "bce_logits":
        return (binary, logits, lambda y, p: ref_bce(y, p, True),
                lambda **kw: BinaryCrossentropy(from_logits=True, **kw))
    if name == "bce_smooth":
        return (binary, _f32(rng.uniform(0.05, 0.95, size=shape)),
                lambda y, p: ref_bce(y, p, False, 0.2),
                lambda **kw: BinaryCrossentropy(label_smoothing=0.2, **kw))
    if name == "bce_logits_smooth":
        return (binary, logits, lambda y, p: ref_bce(y, p, True, 0.1),
                lambda **kw: BinaryCrossentropy(from_logits=True, label_smoothing=0.1, **kw))
    raise AssertionError(name)


CASES = ["mse", "mae", "huber", "cce", "cce_logits", "cce_smooth", "cce_logits_smooth", "scce",
         "scce_logits", "bce", "bce_logits", "bce_smooth", "bce_logits_smooth"]
SHAPES = [(6, 4), (3, 5, 4)]  # (N, C) and temporal (N, T, C)
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None, "none"]


def _weights(kind, sample_shape, seed=1):
    rng = _rng(seed)
    if kind is None:
        return None
    if kind == "scalar":
        return 0.7
    if kind == "per_sample":
        return rng.uniform(0.0, 2.0, size=sample_shape[:1])
    if kind == "full":
        return rng.uniform(0.0, 2.0, size=sample_shape)
    raise AssertionError(kind)


# -- values and reductions ------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=["2d", "temporal"])
@pytest.mark.parametrize("case", CASES)
def test_per_sample_values_match_reference(case, shape):
    y, p, ref, factory = make_case(case, shape)
    expected = ref(y, p)
    values = factory(reduction=None)(y, p)
    assert values.shape == shape[:-1] and values.dtype == np.float32
    assert_close(values, expected)


FUNCTIONS = {
    "mse": losses.mean_squared_error, "mae": losses.mean_absolute_error,
    "huber": lambda y, p: losses.huber(y, p, delta=0.5),
    "cce": losses.categorical_crossentropy,
    "cce_logits": lambda y, p: losses.categorical_crossentropy(y, p, from_logits=True),
    "cce_smooth": lambda y, p: losses.categorical_crossentropy(y, p, label_smoothing=0.1),
    "scce": losses.sparse_categorical_crossentropy,
    "scce_logits": lambda y, p: losses.sparse_categorical_crossentropy(y, p, from_logits=True),
    "bce": losses.binary_crossentropy,
    "bce_logits": lambda y, p: losses.binary_crossentropy(y, p, from_logits=True),
    "bce_smooth": lambda y, p: losses.binary_crossentropy(y, p, label_smoothing=0.2),
}


@pytest.mark.parametrize("case", sorted(FUNCTIONS))
def test_functions_return_per_sample_arrays(case):
    y, p, ref, _ = make_case(case, (3, 5, 4))
    values = FUNCTIONS[case](y, p)
    assert values.shape == (3, 5)
    assert_close(values, ref(y, p))


def test_aliases_are_the_functions():
    assert losses.mse is losses.MSE is losses.mean_squared_error
    assert losses.mae is losses.MAE is losses.mean_absolute_error
    assert losses.bce is losses.BCE is losses.binary_crossentropy


@pytest.mark.parametrize("weights", [None, "scalar", "per_sample", "full"])
@pytest.mark.parametrize("reduction", REDUCTIONS, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=["2d", "temporal"])
@pytest.mark.parametrize("case", ["mse", "huber", "cce_logits", "scce", "bce"])
def test_reductions_and_sample_weights(case, shape, reduction, weights):
    y, p, ref, factory = make_case(case, shape)
    sw = _weights(weights, shape[:-1])
    expected = ref_reduce(ref(y, p), sw, reduction)
    got = factory(reduction=reduction)(y, p, sample_weight=sw)
    if reduction in (None, "none"):
        assert isinstance(got, np.ndarray) and got.shape == shape[:-1]
    else:
        assert isinstance(got, float)
    assert_close(got, expected)


def test_sum_over_batch_size_divides_by_count_not_by_weights():
    y, p, ref, _ = make_case("mse", (4, 3))
    sw = np.array([0.0, 0.0, 1.0, 5.0])
    values = ref(y, p)
    got = MeanSquaredError()(y, p, sample_weight=sw)
    assert_close(got, (values * sw).sum() / 4)
    assert not np.isclose(got, (values * sw).sum() / sw.sum())
    assert_close(MeanSquaredError(reduction="mean_with_sample_weight")(y, p, sw),
                 (values * sw).sum() / sw.sum())


def test_mean_with_sample_weight_of_zero_weights_is_zero():
    y, p, _, _ = make_case("mse", (4, 3))
    loss = MeanSquaredError(reduction="mean_with_sample_weight")
    assert loss(y, p, sample_weight=np.zeros(4)) == 0.0
    value, grad = loss.forward_backward(y, p, sample_weight=np.zeros(4))
    assert value == 0.0 and not grad.any()


def test_temporal_sample_weight_1d_broadcasts_over_timesteps():
    y, p, ref, _ = make_case("cce", (3, 5, 4))
    sw = np.array([1.0, 0.0, 2.0])
    values = ref(y, p)  # (3, 5)
    got = CategoricalCrossentropy()(y, p, sample_weight=sw)
    assert_close(got, (values * sw[:, None]).sum() / 15)
    # (N, 1) and (N, T, 1) weights are squeezed / broadcast the same way
    assert_close(CategoricalCrossentropy()(y, p, sample_weight=sw[:, None]), got)
    full = np.repeat(sw[:, None], 5, axis=1)
    assert_close(CategoricalCrossentropy()(y, p, sample_weight=full[..., None]), got)


# -- Keras' documented values ------------------------------------------------------------


def test_keras_documented_values():
    y_true = np.array([[0, 1, 0], [0, 0, 1]])
    y_pred = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    assert CategoricalCrossentropy()(y_true, y_pred) == pytest.approx(1.177, abs=1e-3)
    assert CategoricalCrossentropy()(y_true, y_pred, sample_weight=np.array([0.3, 0.7])) == \
        pytest.approx(0.814, abs=1e-3)
    assert CategoricalCrossentropy(reduction="sum")(y_true, y_pred) == pytest.approx(2.354,
                                                                                     abs=1e-3)
    np.testing.assert_allclose(CategoricalCrossentropy(reduction=None)(y_true, y_pred),
                               [0.0513, 2.303], atol=1e-3)
    assert SparseCategoricalCrossentropy()([1, 2], y_pred) == pytest.approx(1.177, abs=1e-3)

    y_true = np.array([[0, 1], [0, 0]])
    logits = np.array([[-18.6, 0.51], [2.94, -12.8]])
    bce = BinaryCrossentropy(from_logits=True)
    assert bce(y_true, logits) == pytest.approx(0.8654, abs=1e-4)
    assert bce(y_true, logits, sample_weight=[0.8, 0.2]) == pytest.approx(0.243, abs=1e-3)
    assert BinaryCrossentropy(from_logits=True, reduction="sum")(y_true, logits) == \
        pytest.approx(1.730, abs=1e-3)
    np.testing.assert_allclose(losses.binary_crossentropy([[0, 1], [0, 0]],
                                                          [[0.6, 0.4], [0.4, 0.6]]),
                               [0.916, 0.714], atol=1e-3)
    assert Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) == pytest.approx(0.155,
                                                                                abs=1e-6)


# -- crossentropy details ---------------------------------------------------------------


def test_unnormalised_dense_outputs_with_categorical_crossentropy():
    """Dense(10) without softmax + 'categorical_crossentropy' (from_logits=False): Keras
    divides the raw scores by their sum and clips to [eps, 1 - eps]; it does not softmax.
    gru_py reproduces that, negative scores and clipping included."""
    rng = _rng(7)
    scores = _f32(rng.normal(size=(8, 10)) + 0.3)  # raw Dense outputs, some negative
    y = _f32(np.eye(10)[rng.integers(0, 10, size=8)])
    got = losses.categorical_crossentropy(y, scores)
    assert_close(got, ref_cce(y, scores))
    softmaxed = ref_cce(y, scores, from_logits=True)
    assert not np.allclose(got, softmaxed, rtol=1e-2)
    # Entries whose normalised value fell below eps are clipped: a label on one of them
    # costs exactly -log(eps), and the clip passes no gradient to that entry.
    normalised = scores / scores.sum(axis=-1, keepdims=True)
    clipped_rows = [i for i in range(8) if normalised[i, np.argmax(y[i])] < EPS]
    assert clipped_rows, "the data should exercise the clip"
    for i in clipped_rows:
        assert got[i] == pytest.approx(-np.log(EPS), rel=1e-6)
    value, grad = CategoricalCrossentropy().forward_backward(y, scores)
    assert value == pytest.approx(ref_cce(y, scores).mean(), rel=1e-6)
    for i in clipped_rows:
        assert not grad[i].any()


def test_categorical_crossentropy_warns_on_single_class():
    y = np.ones((4, 1))
    p = np.full((4, 1), 0.7)
    with pytest.warns(SyntaxWarning, match="binary_crossentropy"):
        losses.categorical_crossentropy(y, p)
    with pytest.warns(SyntaxWarning, match="num_classes > 1"):
        CategoricalCrossentropy()(y, p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses.categorical_crossentropy(np.eye(3), np.full((3, 3), 0.3))


def test_binary_crossentropy_from_logits_is_stable_for_large_logits():
    y = np.array([[1.0, 0.0, 1.0, 0.0]])
    p = np.array([[-40.0, 40.0, 80.0, -80.0]])
    expected = ref_bce(y, p, from_logits=True)  # (40 + 40 + 0 + 0) / 4
    assert_close(losses.binary_crossentropy(y, p, from_logits=True), expected)
    assert expected[0] == pytest.approx(20.0)


def test_label_smoothing_values():
    y = np.array([[0.0, 1.0, 0.0]])
    p = np.array([[0.2, 0.5, 0.3]])
    smooth = 0.3
    target = np.array([0.1, 0.8, 0.1])  # y (1 - 0.3) + 0.3 / 3
    assert_close(losses.categorical_crossentropy(y, p, label_smoothing=smooth),
                 [-(target * np.log(p[0])).sum()])
    yb = np.array([[1.0, 0.0]])
    pb = np.array([[0.7, 0.4]])
    tb = np.array([0.85, 0.15])  # y (1 - 0.3) + 0.3 / 2
    expected = -np.mean(tb * np.log(pb[0]) + (1 - tb) * np.log(1 - pb[0]))
    assert_close(losses.binary_crossentropy(yb, pb, label_smoothing=smooth), [expected])


def test_sparse_and_categorical_agree():
    y, p, _, _ = make_case("cce", (5, 4))
    labels = np.argmax(y, axis=-1)
    for from_logits in (False, True):
        assert_close(losses.sparse_categorical_crossentropy(labels, p, from_logits),
                     losses.categorical_crossentropy(y, p, from_logits))


# -- gradients -----------------------------------------------------------------------------


def numerical_gradient(f, x, h=1e-6):
    x = _f64(x).copy()
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        up = f(x)
        x[i] = old - h
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("weights", [None, "per_sample", "full"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4)], ids=["2d", "temporal"])
@pytest.mark.parametrize("case", CASES)
def test_forward_backward_matches_central_differences(case, shape, reduction, weights):
    y, p, ref, factory = make_case(case, shape, seed=3)
    sw = _weights(weights, shape[:-1], seed=4)
    loss = factory(reduction=reduction)
    value, grad = loss.forward_backward(y, p, sample_weight=sw)
    assert isinstance(value, float)
    assert grad.shape == p.shape and grad.dtype == np.float32
    assert_close(value, ref_reduce(ref(y, p), sw, reduction))
    assert value == pytest.approx(loss(y, p, sample_weight=sw), rel=1e-12)
    expected = numerical_gradient(lambda x: ref_reduce(ref(y, x), sw, reduction), p)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=2e-6,
                               err_msg=f"{case} {shape} {reduction} {weights}")


# -- large arrays: the core sums rows in float32 -------------------------------------


def _smoothed(y, s):
    return _f64(y) * (1 - s) + 0.5 * s


def _sigmoid(p):
    return 1.0 / (1.0 + np.exp(-_f64(p)))


# name: (loss factory, per-sample float64 reference, d(entry loss)/d p in float64, data)
ELEMENTWISE = {
    "mse": (MeanSquaredError, ref_mse, lambda y, p: 2 * (_f64(p) - y), "normal"),
    "mae": (MeanAbsoluteError, ref_mae, lambda y, p: np.sign(_f64(p) - y), "normal"),
    "huber": (lambda **kw: Huber(delta=0.5, **kw), lambda y, p: ref_huber(y, p, 0.5),
              lambda y, p: np.clip(_f64(p) - y, -0.5, 0.5), "normal"),
    "bce": (BinaryCrossentropy, ref_bce,
            lambda y, p: -(_f64(y) / p - (1 - _f64(y)) / (1 - _f64(p))), "probabilities"),
    "bce_smooth": (lambda **kw: BinaryCrossentropy(label_smoothing=0.2, **kw),
                   lambda y, p: ref_bce(y, p, False, 0.2),
                   lambda y, p: -(_smoothed(y, 0.2) / p - (1 - _smoothed(y, 0.2)) / (1 - _f64(p))),
                   "probabilities"),
    "bce_logits": (lambda **kw: BinaryCrossentropy(from_logits=True, **kw),
                   lambda y, p: ref_bce(y, p, True), lambda y, p: _sigmoid(p) - y, "logits"),
    "bce_logits_smooth": (
        lambda **kw: BinaryCrossentropy(from_logits=True, label_smoothing=0.1, **kw),
        lambda y, p: ref_bce(y, p, True, 0.1), lambda y, p: _sigmoid(p) - _smoothed(y, 0.1),
        "logits"),
}


def _elementwise_data(kind, shape, seed):
    rng = _rng(seed)
    if kind == "normal":
        return _f32(rng.normal(size=shape)), _f32(rng.normal(size=shape))
    y = _f32(rng.uniform(size=shape))  # soft binary targets
    if kind == "probabilities":
        return y, _f32(rng.uniform(0.05, 0.95, size=shape))
    return y, _f32(rng.normal(scale=2.0, size=shape))


# A few very long rows, and the rows of a GRU(64, return_sequences=True) training step at
# batch 256 with 200 timesteps.
@pytest.mark.parametrize("shape", [(3, 10_000), (256 * 200, 64)], ids=["long_rows", "many_rows"])
@pytest.mark.parametrize("case", list(ELEMENTWISE))
def test_elementwise_losses_on_large_arrays_match_float64(case, shape):
    """However long the rows and however many, values and gradients stay within float32
    rounding of a float64 reference."""
    factory, ref, entry_grad, kind = ELEMENTWISE[case]
    seed = 11
    y, p = _elementwise_data(kind, shape, seed)
    where = f"{case} shape {shape} seed {RNG_SEED + seed}"
    np.testing.assert_allclose(factory(reduction=None)(y, p), ref(y, p), rtol=1e-6, atol=0,
                               err_msg=where)
    # With reduction "sum" each row's loss enters with weight 1: d/dp = entry_grad / C.
    _, grad = factory(reduction="sum").forward_backward(y, p)
    expected = entry_grad(y, p) / shape[-1]
    # Gradients that are differences (sigmoid(p) - y) lose relative precision near 0, so
    # the absolute tolerance follows the gradient's scale.
    np.testing.assert_allclose(grad, expected, rtol=2e-6, atol=1e-6 * np.abs(expected).max(),
                               err_msg=where)


def test_forward_backward_does_not_mutate_inputs():
    y, p, _, _ = make_case("cce_logits", (3, 4))
    y0, p0 = y.copy(), p.copy()
    sw = np.array([1.0, 2.0, 3.0])
    CategoricalCrossentropy(from_logits=True).forward_backward(y, p, sw)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(sw, [1.0, 2.0, 3.0])


def test_forward_backward_needs_a_reduction():
    y, p, _, _ = make_case("mse", (3, 4))
    with pytest.raises(ValueError, match="reduction"):
        MeanSquaredError(reduction=None).forward_backward(y, p)


# -- shape rules ---------------------------------------------------------------------------


def test_targets_without_the_unit_axis_are_aligned():
    rng = _rng(11)
    y = _f32(rng.integers(0, 2, size=8))
    p = _f32(rng.uniform(0.1, 0.9, size=(8, 1)))
    expected = ref_bce(y[:, None], p)
    for yy, pp in ((y, p), (y[:, None], p), (y[:, None], p[:, 0])):
        assert_close(losses.binary_crossentropy(yy, pp), expected)
        assert_close(BinaryCrossentropy(reduction=None)(yy, pp), expected)
        value, grad = BinaryCrossentropy().forward_backward(yy, pp)
        assert grad.shape == np.shape(pp)
        assert value == pytest.approx(expected.mean(), rel=1e-6)


def test_unit_last_axis_of_temporal_predictions_is_squeezed():
    """y (N, T) with y_pred (N, T, 1): Keras squeezes y_pred, so the loss averages over T
    and the per-sample losses are (N,)."""
    rng = _rng(12)
    y = _f32(rng.normal(size=(3, 5)))
    p = _f32(rng.normal(size=(3, 5, 1)))
    got = MeanSquaredError(reduction=None)(y, p)
    assert got.shape == (3,)
    assert_close(got, ref_mse(y, p[..., 0]))
    _, grad = MeanSquaredError().forward_backward(y, p)
    assert grad.shape == (3, 5, 1)
    np.testing.assert_allclose(grad[..., 0], 2 * (p[..., 0] - y) / 15, rtol=1e-5)


def test_sparse_labels_with_unit_axis_and_temporal_labels():
    rng = _rng(13)
    p = _f32(rng.uniform(0.1, 1.0, size=(4, 3)))
    labels = np.array([0, 2, 1, 2])
    expected = ref_scce(labels, p)
    for lab in (labels, labels[:, None], labels.astype(np.float32), labels.astype(np.int32)):
        assert_close(losses.sparse_categorical_crossentropy(lab, p), expected)
    pt = _f32(rng.normal(size=(2, 5, 3)))
    lt = rng.integers(0, 3, size=(2, 5))
    for lab in (lt, lt[..., None]):
        got = SparseCategoricalCrossentropy(from_logits=True, reduction=None)(lab, pt)
        assert got.shape == (2, 5)
        assert_close(got, ref_scce(lt, pt, True))


def test_one_dimensional_inputs_are_one_sample():
    y = np.array([0.0, 1.0, 0.0, 0.0])
    p = np.array([-18.6, 0.51, 2.94, -12.8])
    value = losses.binary_crossentropy(y, p, from_logits=True)
    assert value.shape == ()
    assert BinaryCrossentropy(from_logits=True)(y, p) == pytest.approx(0.8654, abs=1e-4)
    assert_close(value, ref_bce(y, p, True))


def test_bool_and_integer_inputs_are_converted():
    y = np.array([[True, False], [False, True]])
    p = np.array([[1, 0], [0, 1]], dtype=np.int32)
    assert MeanSquaredError()(y, p) == 0.0
    assert_close(losses.binary_crossentropy(y, np.array([[0.9, 0.2], [0.3, 0.6]])),
                 ref_bce(y, np.array([[0.9, 0.2], [0.3, 0.6]])))


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", [MeanSquaredError(), CategoricalCrossentropy(),
                                  BinaryCrossentropy(), Huber()], ids=lambda loss: loss.name)
def test_mismatched_shapes_are_errors(loss):
    with pytest.raises(ValueError, match="y_true and y_pred"):
        loss(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="y_true and y_pred"):
        loss.forward_backward(np.zeros((4,)), np.zeros((4, 3)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_errors(bad):
    y, p = np.ones((2, 3)) * 0.2, np.ones((2, 3)) * 0.4
    bad_p = p.copy()
    bad_p[1, 2] = bad
    with pytest.raises(ValueError, match=r"y_pred must contain only finite values.*index 5"):
        MeanSquaredError()(y, bad_p)
    bad_y = y.copy()
    bad_y[0, 1] = bad
    with pytest.raises(ValueError, match="y_true must contain only finite values"):
        CategoricalCrossentropy().forward_backward(bad_y, p)
    with pytest.raises(ValueError, match="sample_weight"):
        MeanSquaredError()(y, p, sample_weight=[1.0, bad])
    with pytest.raises(ValueError, match="y_true"):
        losses.sparse_categorical_crossentropy(np.array([0.0, bad]), p)
    with pytest.raises(ValueError, match="y_pred must contain only finite"):
        losses.mean_squared_error(y, np.full((2, 3), 1e39))  # overflows float32


def test_the_core_scans_for_non_finite_values_unless_told_the_caller_did():
    from gru_py._native import _core

    y = np.zeros((2, 3), np.float32)
    p = np.array([[0.5, np.nan, 0.5], [0.5, 0.5, 0.5]], np.float32)
    d_per_row = np.ones(2, np.float32)
    kwargs = {"kind": _core.LOSS_MSE, "from_logits": False, "label_smoothing": 0.0,
              "delta": 1.0}
    with pytest.raises(ValueError, match="loss_forward: y_pred must contain only finite"):
        _core.loss_forward(y, p, **kwargs)
    with pytest.raises(ValueError, match="loss_backward: y_true must contain only finite"):
        _core.loss_backward(p, y, d_per_row, **kwargs)
    values = _core.loss_forward(y, p, **kwargs, check_finite=False)
    assert np.isnan(values[0]) and values[1] == pytest.approx(0.25)
    grad = _core.loss_backward(y, p, d_per_row, **kwargs, check_finite=False)
    assert np.isnan(grad[0, 1]) and np.isfinite(grad[1]).all()


def test_empty_inputs_are_errors():
    with pytest.raises(ValueError, match="y_pred must not be empty"):
        MeanSquaredError()(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="y_true must not be empty"):
        losses.mean_absolute_error(np.zeros((0,)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="y_pred must not be empty"):
        SparseCategoricalCrossentropy().forward_backward(np.zeros((0,)), np.zeros((0, 3)))


def test_sparse_label_errors():
    p = np.full((3, 4), 0.25)
    with pytest.raises(ValueError, match=r"y_true.*\[0, 4\).*got label 4"):
        losses.sparse_categorical_crossentropy([0, 4, 1], p)
    with pytest.raises(ValueError, match=r"y_true.*got label -1"):
        SparseCategoricalCrossentropy().forward_backward([0, -1, 1], p)
    with pytest.raises(ValueError, match="whole numbers"):
        losses.sparse_categorical_crossentropy([0.5, 1, 1], p)
    with pytest.raises(ValueError, match=r"y_true.*shape"):
        losses.sparse_categorical_crossentropy([0, 1], p)
    with pytest.raises(ValueError, match=r"y_true.*shape"):
        losses.sparse_categorical_crossentropy(np.eye(4)[:3], p)  # one-hot, not labels


def test_argument_errors():
    with pytest.raises(NotImplementedError, match="axis"):
        losses.categorical_crossentropy(np.eye(3), np.eye(3), axis=0)
    with pytest.raises(NotImplementedError, match="axis"):
        BinaryCrossentropy(axis=1)
    with pytest.raises(NotImplementedError, match="ignore_class"):
        SparseCategoricalCrossentropy(ignore_class=255)
    with pytest.raises(NotImplementedError, match="ignore_class"):
        losses.sparse_categorical_crossentropy([0], [[1.0, 0.0]], ignore_class=-1)
    for smoothing in (-0.1, 1.5):
        with pytest.raises(ValueError, match="label_smoothing"):
            CategoricalCrossentropy(label_smoothing=smoothing)
        with pytest.raises(ValueError, match="label_smoothing"):
            losses.binary_crossentropy([1.0], [0.5], label_smoothing=smoothing)
    for delta in (0.0, -1.0, np.inf):
        with pytest.raises(ValueError, match="delta"):
            Huber(delta=delta)
    with pytest.raises(ValueError, match="reduction"):
        MeanSquaredError(reduction="average")
    with pytest.raises(NotImplementedError, match="float32"):
        MeanSquaredError(dtype="float64")
    with pytest.raises(TypeError, match="y_pred must be a real numeric array"):
        losses.mean_squared_error([1.0], ["a"])
    with pytest.raises(ValueError, match="sample_weight of shape"):
        MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 3)), sample_weight=np.ones(3))


# -- custom losses ---------------------------------------------------------------------------


def _squared_log_error(y_true, y_pred):
    return np.mean((np.log1p(y_true) - np.log1p(y_pred)) ** 2, axis=-1)


def test_custom_callable_is_wrapped_without_a_gradient():
    loss = losses.get(_squared_log_error)
    assert isinstance(loss, LossFunctionWrapper) and loss.name == "_squared_log_error"
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    p = np.array([[1.5, 2.0], [2.0, 5.0]])
    assert loss(y, p) == pytest.approx(_squared_log_error(y, p).mean())
    assert loss(y, p, sample_weight=[1.0, 0.0]) == pytest.approx(_squared_log_error(y, p)[0] / 2)
    with pytest.raises(NotImplementedError, match="forward_backward"):
        loss.forward_backward(y, p)


def test_custom_loss_subclass():
    class Scaled(Loss):
        def call(self, y_true, y_pred):
            return 3.0 * losses.mean_squared_error(y_true, y_pred)

    y, p, ref, _ = make_case("mse", (4, 3))
    assert Scaled().name == "scaled"
    assert_close(Scaled(reduction="sum")(y, p), 3 * ref(y, p).sum())
    with pytest.raises(NotImplementedError, match="no gradient"):
        Scaled().forward_backward(y, p)

    class WithGradient(Scaled):
        def forward_backward(self, y_true, y_pred, sample_weight=None):
            value, grad = MeanSquaredError().forward_backward(y_true, y_pred, sample_weight)
            return 3.0 * value, 3.0 * grad

    value, grad = losses.get(WithGradient()).forward_backward(y, p)
    assert_close(value, 3 * ref(y, p).mean())
    np.testing.assert_allclose(grad, 6 * (p - y) / 12, rtol=1e-5)


# -- get / serialize -----------------------------------------------------------------------


@pytest.mark.parametrize("name, cls", [
    ("mse", MeanSquaredError), ("MSE", MeanSquaredError),
    ("mean_squared_error", MeanSquaredError), ("MeanSquaredError", MeanSquaredError),
    ("mae", MeanAbsoluteError), ("MAE", MeanAbsoluteError),
    ("mean_absolute_error", MeanAbsoluteError), ("MeanAbsoluteError", MeanAbsoluteError),
    ("huber", Huber), ("Huber", Huber),
    ("categorical_crossentropy", CategoricalCrossentropy),
    ("CategoricalCrossentropy", CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", SparseCategoricalCrossentropy),
    ("SparseCategoricalCrossentropy", SparseCategoricalCrossentropy),
    ("binary_crossentropy", BinaryCrossentropy), ("bce", BinaryCrossentropy),
    ("BCE", BinaryCrossentropy), ("BinaryCrossentropy", BinaryCrossentropy),
])
def test_get_by_name(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert loss.reduction == "sum_over_batch_size"
    y, p, _, _ = make_case("bce", (3, 2))
    value, grad = loss.forward_backward(y, p) if cls is not SparseCategoricalCrossentropy \
        else loss.forward_backward([0, 1, 1], p)
    assert np.isfinite(value) and grad.shape == p.shape


def test_get_other_identifiers():
    assert losses.get(None) is None
    instance = Huber(delta=2.0)
    assert losses.get(instance) is instance
    assert type(losses.get(Huber)) is Huber
    loss = losses.get({"class_name": "CategoricalCrossentropy",
                       "config": {"from_logits": True, "label_smoothing": 0.1}})
    assert loss.from_logits and loss.label_smoothing == pytest.approx(0.1)
    by_function = losses.get(losses.categorical_crossentropy)
    assert type(by_function) is CategoricalCrossentropy
    assert not by_function.from_logits
    assert losses.get({"class_name": "function", "config": "mae"}).name == "mae"


@pytest.mark.parametrize("y_shape, p_shape, cls", [
    ((8, 1), (8, 1), BinaryCrossentropy),
    ((8,), (8, 1), BinaryCrossentropy),
    ((8,), (8, 5), SparseCategoricalCrossentropy),
    ((8, 1), (8, 5), SparseCategoricalCrossentropy),
    ((8, 5), (8, 5), CategoricalCrossentropy),
    ((2, 7), (2, 7, 5), SparseCategoricalCrossentropy),
])
def test_crossentropy_is_chosen_by_shapes(y_shape, p_shape, cls):
    y, p = np.zeros(y_shape), np.zeros(p_shape)
    for identifier in ("crossentropy", "ce", "CE"):
        loss = losses.get(identifier, y_true=y, y_pred=p)
        assert type(loss) is cls and loss.name == identifier


def test_crossentropy_without_shapes_resolves_on_first_call():
    loss = losses.get("crossentropy")
    y = np.array([0, 2, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    value, grad = loss.forward_backward(y, p)
    assert type(loss.resolved) is SparseCategoricalCrossentropy
    assert value == pytest.approx(ref_scce(y, p).mean(), rel=1e-6)
    assert loss(y, p) == pytest.approx(value)
    assert losses.serialize(loss) == {"class_name": "function", "config": "crossentropy"}


def test_get_errors():
    with pytest.raises(ValueError, match=r"known names: .*mean_squared_error"):
        losses.get("mean_sqared_error")
    with pytest.raises(ValueError, match="Could not interpret"):
        losses.get(42)
    with pytest.raises(NotImplementedError, match="not supported yet"):
        losses.get("mape")
    with pytest.raises(NotImplementedError, match="not supported yet"):
        losses.get("KLDivergence")
    with pytest.raises(ValueError, match="unknown class_name"):
        losses.get({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="unknown keys"):
        losses.deserialize({"class_name": "Huber", "config": {"delta": 1.0, "beta": 2}})


ALL_LOSSES = [
    MeanSquaredError(), MeanAbsoluteError(reduction="sum"), Huber(delta=0.3, name="h"),
    CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
    SparseCategoricalCrossentropy(from_logits=True, reduction=None),
    BinaryCrossentropy(label_smoothing=0.1, reduction="mean_with_sample_weight"),
]


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda loss: type(loss).__name__)
def test_serialize_round_trip(loss):
    config = losses.serialize(loss)
    config = json.loads(json.dumps(config))
    rebuilt = losses.deserialize(config)
    assert type(rebuilt) is type(loss)
    assert rebuilt.get_config() == loss.get_config()
    assert type(loss).from_config(loss.get_config()).get_config() == loss.get_config()


def test_keras_configs():
    assert MeanSquaredError().get_config() == {"name": "mean_squared_error",
                                               "reduction": "sum_over_batch_size"}
    assert Huber().get_config() == {"name": "huber_loss", "reduction": "sum_over_batch_size",
                                    "delta": 1.0}
    assert CategoricalCrossentropy().get_config() == {
        "name": "categorical_crossentropy", "reduction": "sum_over_batch_size",
        "from_logits": False, "label_smoothing": 0.0, "axis": -1}
    assert SparseCategoricalCrossentropy().get_config() == {
        "name": "sparse_categorical_crossentropy", "reduction": "sum_over_batch_size",
        "from_logits": False, "ignore_class": None}
    assert BinaryCrossentropy().get_config()["name"] == "binary_crossentropy"


def test_serialize_functions_and_custom_objects():
    assert losses.serialize(None) is None
    assert losses.serialize(losses.mse) == {"class_name": "function",
                                            "config": "mean_squared_error"}
    custom = losses.serialize(losses.get(_squared_log_error))
    assert custom == {"class_name": "function", "config": "_squared_log_error"}
    with pytest.raises(ValueError, match="Could not interpret"):
        losses.deserialize(custom)
    rebuilt = losses.deserialize(custom, custom_objects={"_squared_log_error":
                                                         _squared_log_error})
    assert rebuilt.fn is _squared_log_error


def test_one_dimensional_inputs_with_weights_and_every_reduction():
    """A 1-D pair is one sample whose loss is a scalar: Keras weights it and returns it
    unreduced whatever the reduction; forward_backward agrees."""
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([0.8, 0.3, 0.6])
    base = ref_bce(y, p)
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
        loss = BinaryCrossentropy(reduction=reduction)
        assert_close(loss(y, p, sample_weight=2.0), 2.0 * base)
        value, grad = loss.forward_backward(y, p, sample_weight=2.0)
        assert_close(value, 2.0 * base)
        expected = numerical_gradient(lambda x: 2.0 * ref_bce(y, x), p)
        np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)
