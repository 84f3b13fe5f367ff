"""Weight regularizers with Keras 3's names, defaults and penalties, plus their gradients.

A regularizer called on a weight array returns the penalty added to the training loss
(a float): ``l1 * sum(|w|) + l2 * sum(w**2)``. gru_py adds ``gradient(w)``, the penalty's
derivative ``l1 * sign(w) + 2 * l2 * w`` (0 at w = 0 for the L1 part, the subgradient
TensorFlow and JAX use), which layers add to their weight gradients.
"""

import math

import numpy as np

from gru_py._config import config_repr


def _factor(value, name):
    """A penalty factor: a finite number >= 0, as Keras' validate_float_arg requires."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float, got {value!r}")
    return value


def _as_weights(x):
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"regularizer input must be a real numeric array, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


class Regularizer:
    """Base class. A subclass defines ``__call__(x)`` (the penalty, a float),
    ``gradient(x)`` (its derivative, an array of x's shape) and ``get_config``."""

    def __call__(self, x):
        return 0.0

    def gradient(self, x):
        """d penalty / d x as float32 of x's shape.

        Raises:
            NotImplementedError: a subclass that defines a penalty but no gradient.
        """
        if type(self).__call__ is not Regularizer.__call__:
            raise NotImplementedError(
                f"{type(self).__name__} defines a penalty but no gradient(x); gru_py needs "
                "both to train")
        return np.zeros(np.shape(x), dtype=np.float32)

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return config_repr(self)


class _Penalty(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)`` and its gradient, shared by L1, L2 and L1L2."""

    def __init__(self, l1, l2):
        self.l1 = _factor(l1, "l1")
        self.l2 = _factor(l2, "l2")

    def __call__(self, x):
        w = _as_weights(x)
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.abs(w).sum())
        if self.l2:
            penalty += self.l2 * float(np.square(w).sum())
        return penalty

    def gradient(self, x):
        w = _as_weights(x)
        grad = np.zeros(w.shape, dtype=np.float64)
        if self.l1:
            grad += self.l1 * np.sign(w)
        if self.l2:
            grad += 2.0 * self.l2 * w
        return grad.astype(np.float32)


class L1L2(_Penalty):
    """``l1 * sum(|x|) + l2 * sum(x**2)``.

    Args:
        l1, l2: non-negative factors; None means 0. The class defaults are 0 (as in
            Keras), while the string ``"l1_l2"`` means ``L1L2(l1=0.01, l2=0.01)``.
    """

    def __init__(self, l1=0.0, l2=0.0):
        super().__init__(0.0 if l1 is None else l1, 0.0 if l2 is None else l2)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(_Penalty):
    """``l1 * sum(|x|)``; ``l1`` defaults to 0.01 (None also means 0.01)."""

    def __init__(self, l1=0.01):
        super().__init__(0.01 if l1 is None else l1, 0.0)

    def get_config(self):
        return {"l1": self.l1}


class L2(_Penalty):
    """``l2 * sum(x**2)``; ``l2`` defaults to 0.01 (None also means 0.01)."""

    def __init__(self, l2=0.01):
        super().__init__(0.0, 0.01 if l2 is None else l2)

    def get_config(self):
        return {"l2": self.l2}


_BY_CLASS = {"Regularizer": Regularizer, "L1": L1, "L2": L2, "L1L2": L1L2}
_BY_NAME = {
    "l1": L1,
    "l2": L2,
    # Keras documents 'l1_l2' as L1L2 with both factors 0.01 (Keras 2's l1_l2 function).
    "l1_l2": lambda: L1L2(l1=0.01, l2=0.01),
    "l1l2": L1L2,  # Keras 3's snake-case form of the class name
    "regularizer": Regularizer,
}


def get(identifier):
    """Resolves a regularizer identifier.

    Args:
        identifier: None; ``"l1"``, ``"l2"``, ``"l1_l2"`` (l1 = l2 = 0.01) or a class name
            (``"L1"``, ``"L2"``, ``"L1L2"``); a config dict ``{"class_name": ...,
            "config": {...}}``; a Regularizer class or instance.

    Returns:
        A Regularizer, or None for None.

    Raises:
        ValueError: unknown identifier.
        NotImplementedError: a plain function (it has no gradient, which training needs;
            subclass Regularizer and define ``__call__`` and ``gradient``).
    """
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        make = _BY_NAME.get(identifier) or _BY_CLASS.get(identifier)
        if make is None:
            if identifier in ("OrthogonalRegularizer", "orthogonal_regularizer"):
                raise NotImplementedError(f"regularizer {identifier!r} is not supported yet")
            raise ValueError(
                f"Could not interpret regularizer identifier {identifier!r}; known names: "
                f"{sorted(_BY_NAME) + sorted(_BY_CLASS)}")
        return make()
    if callable(identifier):
        raise NotImplementedError(
            f"regularizer {identifier!r} is a plain function: gru_py needs the penalty's "
            "gradient too. Subclass gru_py.regularizers.Regularizer and define __call__(x) "
            "and gradient(x)")
    raise ValueError(f"Could not interpret regularizer identifier {identifier!r}")


def serialize(regularizer):
    """``{"class_name": ..., "config": ...}`` for a Regularizer; None for None."""
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        raise ValueError(f"cannot serialise regularizer {regularizer!r}")
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def deserialize(config, custom_objects=None):
    """The inverse of :func:`serialize` (a name is accepted too).

    Args:
        config: ``{"class_name": ..., "config": {...}}`` or a name.
        custom_objects: optional dict from class names to custom Regularizer classes.
    """
    if config is None or isinstance(config, str):
        return get(config)
    if not isinstance(config, dict):
        raise ValueError(f"regularizer config must be a dict or a name, got {config!r}")
    class_name = config.get("class_name")
    cls = (custom_objects or {}).get(class_name) or _BY_CLASS.get(class_name)
    if cls is None:
        raise ValueError(f"regularizer config has unknown class_name {class_name!r}; "
                         f"expected one of {sorted(_BY_CLASS)}")
    return cls.from_config(dict(config.get("config") or {}))


__all__ = ["L1", "L1L2", "L2", "Regularizer", "deserialize", "get", "serialize"]
