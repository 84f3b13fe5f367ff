"""Weight initializers with Keras 3's names, definitions and seeding rules.

An initializer is called with a shape and returns a new float32 array. A seeded
initializer returns the same values on every call (as in Keras 3); an unseeded one draws
from gru_py's global generator. The random streams are NumPy's, so values differ from
Keras' while their distributions are the same.
"""

import numpy as np

from gru_py import _random


def _rng(seed):
    return _random.generator() if seed is None else np.random.default_rng(seed)


def _fans(shape):
    """(fan_in, fan_out) as Keras computes them: a matrix (in, out); a kernel with
    leading receptive-field axes multiplies both by the field size."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2], dtype=np.int64))
    return shape[-2] * receptive, shape[-1] * receptive


def _check_shape(shape):
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from None
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in dims):
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}")
    shape = tuple(int(d) for d in dims)
    if any(d < 0 for d in shape):
        raise ValueError(f"shape must not have negative dimensions, got {shape}")
    return shape


class Initializer:
    """Base class: subclasses define ``_draw(shape)`` and their constructor arguments."""

    def __call__(self, shape, dtype=None):
        if dtype not in (None, "float32", np.float32):
            raise NotImplementedError(f"dtype must be float32, got {dtype!r}")
        return np.asarray(self._draw(_check_shape(shape)), dtype=np.float32)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _draw(self, shape):
        raise NotImplementedError


class Zeros(Initializer):
    """All zeros."""

    def _draw(self, shape):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones."""

    def _draw(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    """Every entry equal to ``value``."""

    def __init__(self, value=0.0):
        self.value = float(value)

    def _draw(self, shape):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    """U(minval, maxval); Keras' "uniform" (the Embedding default) is U(-0.05, 0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        if not maxval > minval:
            raise ValueError(f"RandomUniform needs maxval > minval, got {minval}, {maxval}")
        self.minval = float(minval)
        self.maxval = float(maxval)
        self.seed = seed

    def _draw(self, shape):
        return _rng(self.seed).uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """N(mean, stddev^2); Keras' "normal" uses stddev 0.05."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        if not stddev >= 0:
            raise ValueError(f"RandomNormal needs stddev >= 0, got {stddev}")
        self.mean = float(mean)
        self.stddev = float(stddev)
        self.seed = seed

    def _draw(self, shape):
        return _rng(self.seed).normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class GlorotUniform(Initializer):
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)) over the whole array."""

    def __init__(self, seed=None):
        self.seed = seed

    def _draw(self, shape):
        fan_in, fan_out = _fans(shape)
        limit = np.sqrt(6.0 / max(1.0, fan_in + fan_out))
        return _rng(self.seed).uniform(-limit, limit, size=shape)

    def get_config(self):
        return {"seed": self.seed}


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain``, Keras' construction.

    The QR factorisation of a normal matrix of shape (max(r, c), min(r, c)), with Q's
    columns multiplied by the signs of R's diagonal (so Q is uniformly distributed),
    transposed when r < c. For a GRU's (H, 3H) recurrent kernel this makes the whole
    matrix row-orthonormal, not each gate block.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = float(gain)
        self.seed = seed

    def _draw(self, shape):
        if len(shape) < 2:
            raise ValueError(
                f"Orthogonal initializer needs a shape of at least 2 dimensions, got {shape}")
        rows = int(np.prod(shape[:-1], dtype=np.int64))
        cols = shape[-1]
        normal = _rng(self.seed).standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(normal)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


_BY_NAME = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "uniform": RandomUniform,
    "random_uniform": RandomUniform,
    "normal": RandomNormal,
    "random_normal": RandomNormal,
    "glorot_uniform": GlorotUniform,
    "orthogonal": Orthogonal,
}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}
# Keras 3's class is OrthogonalInitializer ("Orthogonal" is its alias): configs saved by
# Keras use that name.
_BY_CLASS["OrthogonalInitializer"] = Orthogonal


def get(identifier):
    """Resolves an initializer the way Keras does.

    Args:
        identifier: a name ("glorot_uniform", "orthogonal", "zeros", "ones",
            "constant", "uniform", "normal", or the class name), a config dict ``{"class_name": ...,
            "config": {...}}``, an Initializer class or instance, or any callable
            taking ``(shape, dtype=None)``.

    Raises:
        ValueError: the identifier is not recognised.
    """
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_CLASS.get(identifier)
        if cls is None:
            raise ValueError(
                f"initializer must be one of {sorted(_BY_NAME)}, got {identifier!r}")
        return cls()
    if isinstance(identifier, dict):
        cls = _BY_CLASS.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(
                f"initializer config has unknown class_name {identifier.get('class_name')!r}; "
                f"expected one of {sorted(_BY_CLASS)}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()  # Keras instantiates a class given in place of an instance
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")


def serialize(initializer):
    """A JSON-compatible config for an Initializer (custom callables are not serialisable)."""
    if not isinstance(initializer, Initializer):
        raise ValueError(
            f"only gru_py initializers can be serialised, got {type(initializer).__name__}")
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
