"""Shape and elementwise layers: InputLayer, Masking, Dropout, Activation, Flatten,
Reshape.

Their work is a NumPy reshape or one elementwise pass, so they run in Python; none of
them loops over elements.
"""

import math
import numbers

import numpy as np

from gru_py import _random, activations, ops
from gru_py.layers.base import Layer
from gru_py.layers.node import KerasTensor, Node


class InputLayer(Layer):
    """The entry point of a functional model (see :func:`Input`).

    Args:
        shape: the shape of one sample, without the batch axis; None for a free size.
        batch_size: a fixed batch size, or None.
        dtype: "float32" (default) or an integer type for token ids.
        batch_shape: the full shape including the batch axis (instead of shape).
        name: the layer's name.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None,
                 sparse=None, ragged=None, input_tensor=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if sparse or ragged or input_tensor is not None:
            raise NotImplementedError(
                "InputLayer: sparse, ragged and input_tensor are not supported")
        if (shape is None) == (batch_shape is None):
            raise ValueError(
                f"InputLayer needs exactly one of shape or batch_shape, got shape={shape!r}, "
                f"batch_shape={batch_shape!r}")
        if batch_shape is None:
            shape = (shape,) if isinstance(shape, (int, np.integer)) or shape is None \
                else tuple(shape)
            batch_shape = (batch_size,) + shape
        batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        if any(d is not None and d <= 0 for d in batch_shape):
            raise ValueError(f"InputLayer: sizes must be positive or None, got {batch_shape}")
        self.batch_shape = batch_shape
        self.input_dtype = "float32" if dtype is None else str(np.dtype(dtype))
        node = Node(self, [], False, {})
        node.outputs.append(KerasTensor(batch_shape, self.input_dtype, name=self.name,
                                        node=node))
        self._inbound_nodes.append(node)
        self.output = node.outputs[0]
        self.built = True

    def call(self, inputs, training=False):
        return inputs

    def get_config(self):
        config = super().get_config()
        config.update(batch_shape=list(self.batch_shape), dtype=self.input_dtype)
        return config


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, **kwargs):
    """A symbolic input for the functional API: ``inputs = Input(shape=(None, 100))``.

    Returns:
        The KerasTensor of a new :class:`InputLayer`.
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape,
                      name=name, **kwargs).output


class Masking(Layer):
    """Marks as padding every timestep whose features all equal ``mask_value``.

    The output is the input with those timesteps set to zero; its mask, (B, T) for an
    input (B, T, F), is True where a feature differs from ``mask_value``. Layers after it
    that support masking skip the masked steps, and the loss ignores them.

    Args:
        mask_value: a real number (not NaN), compared with the inputs in float32.
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, (bool, np.bool_)) or not isinstance(mask_value, numbers.Real) \
                or math.isnan(mask_value):
            raise ValueError(
                f"Masking: mask_value must be a real number (not NaN), got {mask_value!r}")
        self.mask_value = float(mask_value)
        self._keep = None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _kept(self, inputs):
        """(x as float32, bool mask of shape x.shape[:-1])."""
        x = np.asarray(inputs, dtype=np.float32)
        if x.ndim < 2:
            raise ValueError(
                f"Masking: input must have at least 2 dimensions (batch, ..., features), "
                f"got shape {x.shape}")
        # Compared in float32, the inputs' type: 0.1 masks the float32 value nearest 0.1.
        return x, (x != np.float32(self.mask_value)).any(axis=-1)

    def compute_mask(self, inputs, mask=None):
        """The (B, T) mask of an input (B, T, F): True where a feature is not
        ``mask_value``. An incoming mask is replaced, as in Keras."""
        return self._kept(inputs)[1]

    def call(self, inputs, training=False):
        x, keep = self._kept(inputs)
        keep = keep[..., None]
        self._keep = keep if training else None
        return x * keep

    def backward(self, d_output):
        if self._keep is None:
            raise RuntimeError(f"{self.name}: backward needs a preceding call with training=True")
        # The output does not depend on the inputs of masked steps.
        return d_output * self._keep

    def get_config(self):
        config = super().get_config()
        config.update(mask_value=self.mask_value)
        return config


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs in training and scales the rest by
    1 / (1 - rate) (inverted dropout, as Keras); the identity at inference.

    Args:
        rate: in [0, 1).
        noise_shape: shape of the mask, broadcast over the input (None: the input's).
        seed: seed of the mask generator.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"Invalid value received for argument `rate`: expected a float "
                             f"in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.noise_shape = _check_noise_shape(noise_shape)
        self.seed = seed
        self._rng = _random.new_generator(seed)
        self._mask = None
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=False):
        x = np.asarray(inputs, dtype=np.float32)
        self._mask = None
        if not training or self.rate == 0.0:
            return x
        shape = x.shape if self.noise_shape is None else tuple(
            x.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))
        keep = self._rng.random(shape) >= self.rate
        self._mask = keep.astype(np.float32) / np.float32(1.0 - self.rate)
        return x * self._mask

    def backward(self, d_output):
        return d_output if self._mask is None else d_output * self._mask

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=self.noise_shape and list(self.noise_shape),
                      seed=self.seed)
        return config


def _check_noise_shape(noise_shape):
    """None, or a tuple of positive ints and Nones (None: the input's size there)."""
    if noise_shape is None:
        return None
    try:
        dims = tuple(noise_shape)
    except TypeError:
        dims = None
    if dims is None or isinstance(noise_shape, str) or not all(
            d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0)
            for d in dims):
        raise ValueError(
            f"Dropout: noise_shape must be a tuple of positive integers or None, got "
            f"{noise_shape!r}")
    return tuple(None if d is None else int(d) for d in dims)


class Activation(Layer):
    """Applies an activation ("relu", "sigmoid", "tanh", "softmax", ...) elementwise
    (softmax over the last axis), in the C core."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self._saved = None
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=False):
        y = ops.activation_forward(inputs, self.activation)
        self._saved = y if training else None
        return y

    def backward(self, d_output):
        if self._saved is None:
            raise RuntimeError(f"{self.name}: backward needs a preceding call with training=True")
        return ops.activation_backward(self._saved, d_output, self.activation)

    def get_config(self):
        config = super().get_config()
        config.update(activation=self.activation)
        return config


class Flatten(Layer):
    """Flattens every axis but the batch axis: (B, ...) -> (B, prod(...))."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError(f"Flatten: data_format={data_format!r} is not supported")
        self._input_shape = None

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], size)

    def call(self, inputs, training=False):
        x = np.asarray(inputs)
        self._input_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, d_output):
        return np.reshape(d_output, self._input_shape)


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(
                d == 0 or d < -1 for d in self.target_shape):
            raise ValueError(
                f"Reshape: target_shape must hold positive sizes and at most one -1, got "
                f"{target_shape!r}")
        self._input_shape = None

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if -1 in self.target_shape:
            if any(d is None for d in rest):
                return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
            known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
            total = int(np.prod(rest, dtype=np.int64))
            if total % known:
                raise ValueError(f"Reshape: cannot reshape {tuple(rest)} to {self.target_shape}")
            return (input_shape[0],) + tuple(total // known if d == -1 else d
                                             for d in self.target_shape)
        if None not in rest and int(np.prod(rest)) != int(np.prod(self.target_shape)):
            raise ValueError(f"Reshape: cannot reshape {tuple(rest)} to {self.target_shape}")
        return (input_shape[0],) + self.target_shape

    def call(self, inputs, training=False):
        x = np.asarray(inputs)
        self._input_shape = x.shape
        try:
            return x.reshape((x.shape[0],) + self.target_shape)
        except ValueError:
            raise ValueError(
                f"Reshape: cannot reshape samples of shape {x.shape[1:]} to "
                f"{self.target_shape}") from None

    def backward(self, d_output):
        return np.reshape(d_output, self._input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(target_shape=list(self.target_shape))
        return config
