"""The Layer base class: Keras' lifecycle on NumPy arrays, plus a backward pass.

``__init__`` stores and validates configuration only, ``build`` creates the weights,
``call`` computes, ``get_config`` round-trips the constructor. On top of Keras, a layer
called with ``training=True`` keeps what its ``backward`` needs; ``backward`` returns the
input gradient and accumulates parameter gradients into ``layer.gradients``.
"""

import collections
import re

import numpy as np

from gru_py import initializers

# Keras' base-layer keyword arguments that describe the model's input, kept for the
# model that will read them.
_INPUT_KWARGS = ("input_shape", "input_dim", "batch_input_shape", "batch_size")

_name_uids = collections.Counter()


def _snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _unique_name(prefix):
    """Keras' automatic names: gru, gru_1, gru_2, ..."""
    _name_uids[prefix] += 1
    uid = _name_uids[prefix]
    return prefix if uid == 1 else f"{prefix}_{uid - 1}"


class Layer:
    """Base class of gru_py layers.

    Args:
        name: the layer's name; by default the snake-case class name made unique.
        trainable: whether the optimizer updates this layer's weights.
        dtype: only float32 (Keras' default) is supported.
        **kwargs: Keras' input-describing arguments (``input_shape``, ``input_dim``,
            ``batch_input_shape``, ``batch_size``); anything else is an error.
    """

    def __init__(self, *, name=None, trainable=True, dtype=None, **kwargs):
        unknown = set(kwargs) - set(_INPUT_KWARGS)
        if unknown:
            raise ValueError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: "
                f"{sorted(unknown)}")
        if dtype not in (None, "float32", np.float32):
            raise NotImplementedError(
                f"{type(self).__name__}: dtype must be 'float32', got {dtype!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {name!r}")
        self.name = name if name else _unique_name(_snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.dtype = "float32"
        self._input_kwargs = {k: kwargs[k] for k in _INPUT_KWARGS if k in kwargs}
        self.built = False
        self._weights = []  # [(name, array, trainable)] in Keras' get_weights order
        self.gradients = []  # one accumulator per weight, same order

    def _reject_unsupported(self, **settings):
        """Raises NotImplementedError for features this version does not have yet.

        ``settings`` maps an argument name to ``(value, default)``; any value other than
        its default is rejected rather than silently ignored.
        """
        for arg, (value, default) in settings.items():
            if value != default:
                raise NotImplementedError(
                    f"{type(self).__name__}: {arg}={value!r} is not supported yet "
                    f"(only the default, {default!r})")

    # -- weights --------------------------------------------------------------------

    def add_weight(self, name, shape, initializer, trainable=True):
        """Creates a float32 weight from an initializer and registers it."""
        value = np.ascontiguousarray(initializers.get(initializer)(shape), dtype=np.float32)
        if value.shape != tuple(shape):
            raise ValueError(
                f"{self.name}: initializer for {name} returned shape {value.shape}, "
                f"expected {tuple(shape)}")
        self._weights.append((name, value, trainable))
        self.gradients.append(np.zeros_like(value))
        return value

    @property
    def weights(self):
        """The weight arrays, in Keras' order. They are the layer's own, not copies."""
        return [w for _, w, _ in self._weights]

    @property
    def trainable_weights(self):
        return [w for _, w, t in self._weights if t and self.trainable]

    @property
    def non_trainable_weights(self):
        return [w for _, w, t in self._weights if not (t and self.trainable)]

    def get_weights(self):
        """Copies of the weights, in Keras' order and shapes."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Overwrites the weights in place, checking their number and shapes.

        Raises:
            ValueError: wrong count or shape, or a weight with NaN or Inf.
        """
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(
                f"{self.name}: set_weights expects a list of {len(self._weights)} arrays "
                f"{[w.shape for w in self.weights]}, got {len(weights)}")
        arrays = [np.asarray(w, dtype=np.float32) for w in weights]
        for (name, own, _), new in zip(self._weights, arrays):
            if new.shape != own.shape:
                raise ValueError(
                    f"{self.name}: weight {name} must have shape {own.shape}, "
                    f"got {new.shape}")
            if not np.isfinite(new).all():
                raise ValueError(f"{self.name}: weight {name} contains NaN or Inf")
        for (_, own, _), new in zip(self._weights, arrays):
            own[...] = new

    def zero_gradients(self):
        """Resets the accumulated parameter gradients to zero."""
        for g in self.gradients:
            g.fill(0.0)

    def count_params(self):
        """Number of weight entries.

        Raises:
            ValueError: the layer is not built yet.
        """
        if not self.built:
            raise ValueError(
                f"You tried to call count_params on layer '{self.name}', but the layer "
                "isn't built. Call it on data or call build(input_shape) first.")
        return int(sum(w.size for w in self.weights))

    # -- lifecycle -------------------------------------------------------------------

    def build(self, input_shape):
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if not self.built:
            self.build(np.shape(inputs))
        return self.call(inputs, *args, **kwargs)

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError

    def get_config(self):
        """The constructor arguments, JSON-compatible, such that
        ``type(layer).from_config(layer.get_config())`` rebuilds an equal layer."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        config.update(self._input_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
