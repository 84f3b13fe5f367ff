"""Tests of gru_py.initializers against Keras 3's definitions (API_SPEC 7): glorot_uniform
and orthogonal over the whole matrix, Keras' seeding rule, get()/serialize()."""

import json

import numpy as np
import pytest

from gru_py import initializers
from gru_py.initializers import Constant, GlorotUniform, Ones, Orthogonal, Zeros

ALL_INSTANCES = [
    Zeros(), Ones(), Constant(0.5), GlorotUniform(), GlorotUniform(seed=1), Orthogonal(),
    Orthogonal(gain=0.5, seed=2),
]
ALL_IDS = ["zeros", "ones", "constant", "glorot", "glorot_seeded", "orthogonal",
           "orthogonal_seeded"]

BY_NAME = [
    ("zeros", Zeros), ("ones", Ones), ("constant", Constant),
    ("glorot_uniform", GlorotUniform), ("orthogonal", Orthogonal),
    ("Zeros", Zeros), ("Ones", Ones), ("Constant", Constant),
    ("GlorotUniform", GlorotUniform), ("Orthogonal", Orthogonal),
    # Keras 3's class is OrthogonalInitializer ("Orthogonal" is its legacy alias), so a
    # config saved by Keras names it this way.
    ("OrthogonalInitializer", Orthogonal),
]


def _keras_fans(shape):
    """Keras' compute_fans, written out per case."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


# -- glorot_uniform -------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 18), (100, 384), (7,), (3, 4, 5), ()])
def test_glorot_uniform_within_limit(shape):
    fan_in, fan_out = _keras_fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    values = GlorotUniform(seed=3)(shape)
    assert values.shape == shape
    assert np.all(np.abs(values) <= limit)
    if values.size >= 1000:
        # The largest of >= 1000 uniform draws is within 1% of the limit with
        # probability 1 - 0.99**1000 > 0.9999.
        assert np.abs(values).max() > 0.99 * limit


def test_glorot_uniform_large_matrix_moments():
    rows, cols = 400, 600
    n = rows * cols
    limit = np.sqrt(6.0 / (rows + cols))
    values = GlorotUniform(seed=4)((rows, cols)).astype(np.float64)
    # U(-a, a): E[x] = 0, Var(x) = a^2 / 3 and Var(x^2) = 4 a^4 / 45, so the mean has
    # standard error a / sqrt(3 n) and the sample variance a^2 sqrt(4 / (45 n)).
    # Six standard errors: 6 * a / sqrt(3 * 240000) ~ 0.0071 a for the mean and
    # 6 * sqrt(4 / 45 / 240000) ~ 0.0037 a^2 (1.1% of a^2 / 3) for the variance.
    assert abs(values.mean()) < 6 * limit / np.sqrt(3 * n)
    assert abs(values.var() - limit**2 / 3) < 6 * limit**2 * np.sqrt(4 / 45 / n)


@pytest.mark.parametrize("cls", [GlorotUniform, Orthogonal])
def test_seeded_initializer_repeats_itself_like_keras3(cls):
    shape = (6, 18)
    init = cls(seed=123)
    first = init(shape)
    np.testing.assert_array_equal(init(shape), first)
    np.testing.assert_array_equal(cls(seed=123)(shape), first)
    assert not np.array_equal(cls(seed=124)(shape), first)


@pytest.mark.parametrize("cls", [GlorotUniform, Orthogonal])
def test_unseeded_initializer_differs_between_calls(cls):
    init = cls()
    assert not np.array_equal(init((6, 18)), init((6, 18)))
    assert not np.array_equal(cls()((6, 18)), cls()((6, 18)))


# -- orthogonal -----------------------------------------------------------------------


@pytest.mark.parametrize("units", [1, 4, 16, 64])
def test_orthogonal_wide_is_row_orthonormal_over_whole_matrix(units):
    q = Orthogonal(seed=units)((units, 3 * units)).astype(np.float64)
    np.testing.assert_allclose(q @ q.T, np.eye(units), rtol=0, atol=1e-5)


@pytest.mark.parametrize("units", [1, 4, 16, 64])
def test_orthogonal_tall_is_column_orthonormal(units):
    q = Orthogonal(seed=units)((3 * units, units)).astype(np.float64)
    np.testing.assert_allclose(q.T @ q, np.eye(units), rtol=0, atol=1e-5)


def test_orthogonal_square_is_orthogonal():
    q = Orthogonal(seed=5)((8, 8)).astype(np.float64)
    np.testing.assert_allclose(q @ q.T, np.eye(8), rtol=0, atol=1e-5)
    np.testing.assert_allclose(q.T @ q, np.eye(8), rtol=0, atol=1e-5)


def test_orthogonal_higher_rank_flattens_leading_axes():
    q = Orthogonal(seed=6)((2, 3, 12)).astype(np.float64).reshape(6, 12)
    np.testing.assert_allclose(q @ q.T, np.eye(6), rtol=0, atol=1e-5)


@pytest.mark.parametrize("gain", [0.5, 2.0, 3.0])
def test_orthogonal_gain_scales(gain):
    shape = (5, 15)
    base = Orthogonal(seed=7)(shape).astype(np.float64)
    scaled = Orthogonal(gain=gain, seed=7)(shape).astype(np.float64)
    np.testing.assert_allclose(scaled, gain * base, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(scaled @ scaled.T, gain**2 * np.eye(5), rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape", [(5,), ()])
def test_orthogonal_needs_2d(shape):
    with pytest.raises(ValueError):
        Orthogonal()(shape)


# -- constants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "init, value", [(Zeros(), 0.0), (Ones(), 1.0), (Constant(), 0.0), (Constant(0.25), 0.25),
                    (Constant(value=-3), -3.0)])
@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 4)])
def test_constant_initializers(init, value, shape):
    values = init(shape)
    assert values.shape == shape
    np.testing.assert_array_equal(values, np.full(shape, value, np.float32))


# -- dtype and shape ------------------------------------------------------------------


@pytest.mark.parametrize("init", ALL_INSTANCES, ids=ALL_IDS)
@pytest.mark.parametrize("dtype", [None, "float32", np.float32])
def test_every_result_is_float32_ndarray(init, dtype):
    values = init((3, 4), dtype=dtype)
    assert type(values) is np.ndarray
    assert values.dtype == np.float32
    assert values.shape == (3, 4)


@pytest.mark.parametrize("init", ALL_INSTANCES, ids=ALL_IDS)
@pytest.mark.parametrize("dtype", ["float64", np.float64, "float16", "int32"])
def test_other_dtypes_not_implemented(init, dtype):
    with pytest.raises(NotImplementedError):
        init((3, 4), dtype=dtype)


@pytest.mark.parametrize("init", ALL_INSTANCES, ids=ALL_IDS)
@pytest.mark.parametrize("shape", [(-1, 3), (3, -2)])
def test_negative_shape_raises(init, shape):
    with pytest.raises(ValueError):
        init(shape)


@pytest.mark.parametrize("init", [Zeros(), GlorotUniform(seed=1)], ids=["zeros", "glorot"])
def test_non_integer_shape_is_an_error(init):
    # Keras (any backend) fails on a float dimension; silently truncating 2.5 to 2 would
    # hide a caller's bug.
    with pytest.raises((TypeError, ValueError)):
        init((2.5, 3))


def test_accepts_numpy_integer_shape():
    assert Zeros()((np.int64(2), np.int32(3))).shape == (2, 3)


# -- get / serialize ------------------------------------------------------------------


@pytest.mark.parametrize("name, cls", BY_NAME)
def test_get_by_name(name, cls):
    assert type(initializers.get(name)) is cls


def test_get_by_name_returns_fresh_instances():
    assert initializers.get("glorot_uniform") is not initializers.get("glorot_uniform")


@pytest.mark.parametrize(
    "config, cls, attrs",
    [({"class_name": "Constant", "config": {"value": 0.5}}, Constant, {"value": 0.5}),
     ({"class_name": "GlorotUniform", "config": {"seed": 9}}, GlorotUniform, {"seed": 9}),
     ({"class_name": "Orthogonal", "config": {"gain": 2.0, "seed": 1}}, Orthogonal,
      {"gain": 2.0, "seed": 1}),
     ({"class_name": "Zeros", "config": {}}, Zeros, {}),
     ({"class_name": "Ones"}, Ones, {})],
)
def test_get_by_config_dict(config, cls, attrs):
    init = initializers.get(config)
    assert type(init) is cls
    for key, value in attrs.items():
        assert getattr(init, key) == value


def test_get_by_config_dict_reproduces_seeded_values():
    init = initializers.get({"class_name": "GlorotUniform", "config": {"seed": 9}})
    np.testing.assert_array_equal(init((4, 5)), GlorotUniform(seed=9)((4, 5)))


@pytest.mark.parametrize("init", ALL_INSTANCES, ids=ALL_IDS)
def test_get_returns_instance_itself(init):
    assert initializers.get(init) is init


def test_get_by_callable_returns_it_and_layers_use_it():
    def halves(shape, dtype=None):
        return np.full(shape, 0.5)

    assert initializers.get(halves) is halves
    from gru_py.layers import GRU

    layer = GRU(2, kernel_initializer=halves)
    layer.build((1, 1, 3))
    np.testing.assert_array_equal(layer.kernel, np.full((3, 6), 0.5, np.float32))


@pytest.mark.parametrize("cls", [Zeros, GlorotUniform])
def test_get_by_class_returns_an_instance_like_keras(cls):
    # Keras 3's get(): "In the case that the identifier is a class, this method will return
    # a new instance of the class by its constructor."
    init = initializers.get(cls)
    assert isinstance(init, cls)
    assert init((2, 3)).shape == (2, 3)


def test_layer_accepts_initializer_class_like_keras():
    from gru_py.layers import GRU

    layer = GRU(2, kernel_initializer=Zeros, recurrent_initializer=Orthogonal)
    layer.build((1, 1, 3))
    np.testing.assert_array_equal(layer.kernel, 0.0)


@pytest.mark.parametrize(
    "identifier",
    ["glorot_normal_typo", "", "GLOROT_UNIFORM", {"class_name": "Nope", "config": {}}, {},
     5, 1.5, [1, 2]],
)
def test_get_unknown_raises(identifier):
    with pytest.raises(ValueError):
        initializers.get(identifier)


@pytest.mark.parametrize("init", ALL_INSTANCES, ids=ALL_IDS)
def test_serialize_round_trip(init):
    config = initializers.serialize(init)
    assert config["class_name"] == type(init).__name__
    restored = initializers.get(json.loads(json.dumps(config)))
    assert type(restored) is type(init)
    assert initializers.serialize(restored) == config
    if getattr(init, "seed", 0) is not None:  # deterministic initializers only
        np.testing.assert_array_equal(restored((4, 6)), init((4, 6)))


def test_serialize_rejects_plain_callables():
    with pytest.raises(ValueError):
        initializers.serialize(lambda shape, dtype=None: np.zeros(shape))
