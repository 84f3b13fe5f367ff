"""TimeDistributed: applies one layer to every time slice of a (B, T, ...) input.

Keras steps through time in Python (or maps over it); here the time axis is folded into
the batch axis, the wrapped layer runs once on (B*T, ...), and its output is unfolded to
(B, T, ...). Every slice sees the same weights, so both give the same numbers.
"""

import numpy as np

from gru_py.layers.wrapper import Wrapper


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every temporal slice of the input, with shared weights.

    ``TimeDistributed(Dense(8))`` on (B, T, I) gives (B, T, 8): Dense applied to each of
    the T slices (B, I). The wrapped layer's weights are the wrapper's.

    Args:
        layer: a gru_py layer with one output.
        **kwargs: the base Layer's arguments (``name``, ``trainable``, ...).

    Unlike Keras, which calls the wrapped layer's ``call`` directly and so drops its
    ``activity_regularizer``, gru_py applies that regularizer (to the whole (B, T, ...)
    output, the same sum as slice by slice).

    Raises:
        ValueError: ``layer`` is not a gru_py layer.
        NotImplementedError: ``layer`` is a model.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)
        # The output has the input's timesteps, so the input's (B, T) mask still fits it.
        self.supports_masking = True
        self._folded = None  # (B, T) of the last training call, for backward

    def build(self, input_shape):
        """Builds the wrapped layer for one time slice: (batch, ...) from (batch, T, ...)."""
        self._build_inner(_slice_shape(input_shape))

    def compute_output_shape(self, input_shape):
        slice_output = self.layer.compute_output_shape(_slice_shape(input_shape))
        if isinstance(slice_output, list):
            raise _several_outputs(self.layer)
        return (slice_output[0], input_shape[1], *slice_output[1:])

    def call(self, inputs, training=False):
        """Runs the wrapped layer on every time slice.

        Args:
            inputs: (B, T, ...), at least 3-D.
            training: passed to the wrapped layer; keeps what :meth:`backward` needs.

        Returns:
            (B, T, ...): the wrapped layer's output for each slice, stacked along axis 1.
        """
        x = np.asarray(inputs)
        if x.ndim < 3:
            raise ValueError(
                f"TimeDistributed: input must have at least 3 dimensions (batch, timesteps, "
                f"...), got shape {x.shape}")
        B, T = x.shape[:2]
        outputs = self.layer._graph_forward(x.reshape((B * T,) + x.shape[2:]), {}, training)
        if len(outputs) != 1:
            raise _several_outputs(self.layer)
        self._folded = (B, T) if training else None
        y = outputs[0]
        return y.reshape((B, T) + y.shape[1:])

    def backward(self, d_output, input_gradient=True):
        """Backpropagates through the last ``training=True`` call.

        Args:
            d_output: (B, T, ...) gradient w.r.t. the output.
            input_gradient: False tells the wrapped layer that the gradient w.r.t. the
                inputs is not needed (they are data); it may then skip it.

        Returns:
            (B, T, ...) gradient w.r.t. the inputs (None when the wrapped layer has no
            input gradient, e.g. Embedding's integer ids, or skipped it). Parameter
            gradients are added into ``self.gradients`` (the wrapped layer's).
        """
        if self._folded is None:
            raise RuntimeError(f"{self.name}: backward needs a preceding call with training=True")
        B, T = self._folded
        shape = np.shape(d_output)
        if shape[:2] != (B, T):
            raise ValueError(
                f"{self.name}: d_output must have shape ({B}, {T}, ...) like the output of "
                f"the last call, got {shape}")
        d_x, _ = self.layer._graph_backward([np.reshape(d_output, (B * T,) + shape[2:])],
                                            input_gradient=input_gradient)
        self._folded = None
        return None if d_x is None else d_x.reshape((B, T) + d_x.shape[1:])

    def _graph_backward(self, d_outputs, input_gradient=True):
        d_output = self._with_activity_gradient(d_outputs[0])
        return self.backward(d_output, input_gradient=input_gradient), {}


def _slice_shape(input_shape):
    """(batch, ...) for one time slice of a (batch, T, ...) input shape."""
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else None
    if shape is None or len(shape) < 3 or not all(
            d is None or isinstance(d, (int, np.integer)) for d in shape):
        raise ValueError(
            f"TimeDistributed: input must have at least 3 dimensions (batch, timesteps, ...), "
            f"got shape {input_shape!r}")
    return (shape[0], *shape[2:])


def _several_outputs(layer):
    return ValueError(
        f"TimeDistributed: the wrapped layer must have one output, but '{layer.name}' has "
        "several (e.g. an RNN with return_state=True)")
