"""Tests of gru_py.regularizers: Keras 3's penalties (l1 * sum|w|, l2 * sum w^2), defaults
and identifiers, and gru_py's gradient() against central differences."""

import json

import numpy as np
import pytest

from gru_py import regularizers
from gru_py.regularizers import L1, L1L2, L2, Regularizer

W = np.random.default_rng(5).normal(size=(4, 6)).astype(np.float32)


def _numerical_gradient(f, w, h=1e-6):
    w = w.astype(np.float64)
    grad = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        up, down = w.copy(), w.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (f(up) - f(down)) / (2 * h)
    return grad


@pytest.mark.parametrize("reg, l1, l2", [
    (L1(), 0.01, 0.0), (L1(0.3), 0.3, 0.0), (L2(), 0.0, 0.01), (L2(2.0), 0.0, 2.0),
    (L1L2(), 0.0, 0.0), (L1L2(l1=0.1, l2=0.2), 0.1, 0.2), (L1L2(l2=0.5), 0.0, 0.5),
])
def test_penalty_and_gradient(reg, l1, l2):
    w = W.astype(np.float64)
    penalty = reg(W)
    assert isinstance(penalty, float)
    assert penalty == pytest.approx(l1 * np.abs(w).sum() + l2 * np.square(w).sum(), rel=1e-12)
    grad = reg.gradient(W)
    assert grad.shape == W.shape and grad.dtype == np.float32
    np.testing.assert_allclose(grad, l1 * np.sign(w) + 2 * l2 * w, rtol=1e-6)
    np.testing.assert_allclose(grad, _numerical_gradient(reg, W), rtol=1e-5, atol=1e-7)


def test_keras_documented_value():
    assert L2(2.0)(np.ones((5, 5))) == pytest.approx(50.0)
    assert L1(0.01)(np.ones((5, 5))) == pytest.approx(0.25)


def test_l1_gradient_at_zero_is_zero():
    w = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(L1(0.5).gradient(w), [-0.5, 0.0, 0.5])


def test_none_factors_and_validation():
    assert L1(None).l1 == 0.01 and L2(None).l2 == 0.01
    assert L1L2(None, None).get_config() == {"l1": 0.0, "l2": 0.0}
    for bad in (-0.1, float("nan"), float("inf"), "0.1", [0.1]):
        with pytest.raises(ValueError, match="non-negative"):
            L1(bad)
        with pytest.raises(ValueError, match="non-negative"):
            L1L2(l2=bad)


def test_inputs_not_mutated_and_types():
    w = W.copy()
    L1L2(0.1, 0.1).gradient(w)
    L1L2(0.1, 0.1)(w)
    np.testing.assert_array_equal(w, W)
    with pytest.raises(TypeError, match="numeric"):
        L2()(np.array(["a"]))


@pytest.mark.parametrize("identifier, cls, config", [
    ("l1", L1, {"l1": 0.01}), ("L1", L1, {"l1": 0.01}),
    ("l2", L2, {"l2": 0.01}), ("L2", L2, {"l2": 0.01}),
    ("l1_l2", L1L2, {"l1": 0.01, "l2": 0.01}),  # Keras' documented defaults for the string
    ("L1L2", L1L2, {"l1": 0.0, "l2": 0.0}), ("l1l2", L1L2, {"l1": 0.0, "l2": 0.0}),
])
def test_get_by_name(identifier, cls, config):
    reg = regularizers.get(identifier)
    assert type(reg) is cls
    assert reg.get_config() == config


def test_get_other_identifiers():
    assert regularizers.get(None) is None
    reg = L2(0.3)
    assert regularizers.get(reg) is reg
    assert type(regularizers.get(L1)) is L1
    from_config = regularizers.get({"class_name": "L1L2", "config": {"l1": 0.2, "l2": 0.4}})
    assert from_config.get_config() == {"l1": 0.2, "l2": 0.4}
    base = regularizers.get("Regularizer")
    assert base(W) == 0.0 and not base.gradient(W).any()


def test_get_errors():
    with pytest.raises(ValueError, match="known names"):
        regularizers.get("l3")
    with pytest.raises(NotImplementedError, match="not supported yet"):
        regularizers.get("OrthogonalRegularizer")
    with pytest.raises(NotImplementedError, match="gradient"):
        regularizers.get(lambda w: 0.01 * np.sum(np.abs(w)))
    with pytest.raises(ValueError, match="unknown class_name"):
        regularizers.get({"class_name": "L3", "config": {}})
    with pytest.raises(ValueError, match="Could not interpret"):
        regularizers.get(0.01)


@pytest.mark.parametrize("reg", [L1(0.2), L2(0.05), L1L2(0.1, 0.3), L1L2()],
                         ids=lambda r: repr(r))
def test_serialize_round_trip(reg):
    config = json.loads(json.dumps(regularizers.serialize(reg)))
    rebuilt = regularizers.deserialize(config)
    assert type(rebuilt) is type(reg)
    assert rebuilt.get_config() == reg.get_config()
    assert type(reg).from_config(reg.get_config()).get_config() == reg.get_config()
    assert regularizers.serialize(None) is None


def test_custom_subclass():
    class Scaled(Regularizer):
        def __init__(self, factor=1.0):
            self.factor = factor

        def __call__(self, x):
            return self.factor * float(np.sum(np.asarray(x) ** 4))

        def get_config(self):
            return {"factor": self.factor}

    reg = regularizers.get(Scaled(2.0))
    assert reg(np.array([1.0, 2.0])) == pytest.approx(34.0)
    with pytest.raises(NotImplementedError, match="gradient"):
        reg.gradient(np.array([1.0]))
    rebuilt = regularizers.deserialize(regularizers.serialize(reg),
                                       custom_objects={"Scaled": Scaled})
    assert rebuilt.factor == 2.0
