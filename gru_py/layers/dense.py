"""The Dense layer: y = activation(x @ kernel + bias) on the last axis, in the C core."""

import numpy as np

from gru_py import activations, initializers, ops, regularizers
from gru_py.layers.base import Layer


class Dense(Layer):
    """Densely connected layer, as Keras 3 defines it.

    Args:
        units: O, a positive int.
        activation: None (linear), "relu", "sigmoid", "tanh", "hard_sigmoid" or
            "softmax".
        use_bias: whether the layer has a bias.
        kernel_initializer, bias_initializer: "glorot_uniform" and "zeros" by default.
        kernel_regularizer, bias_regularizer, activity_regularizer: penalties added to
            the training loss.

    Weights: ``kernel`` (I, O) and ``bias`` (O,). Inputs of any rank >= 2 are
    transformed along their last axis.

    Not supported yet, and rejected with NotImplementedError when set: constraints, LoRA.
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(
                f"Received an invalid value for argument `units`, expected a positive "
                f"integer, got {units!r}")
        self._reject_unsupported(
            kernel_constraint=(kernel_constraint, None),
            bias_constraint=(bias_constraint, None),
            lora_rank=(lora_rank, None),
        )
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._saved = None
        # On (B, T, I) inputs each step is transformed on its own: the (B, T) mask holds.
        self.supports_masking = True

    def build(self, input_shape):
        """Creates the weights for inputs of shape (..., features)."""
        if len(input_shape) < 2 or input_shape[-1] is None or int(input_shape[-1]) <= 0:
            raise ValueError(
                f"Dense: input must have at least 2 dimensions (batch, ..., features) with a "
                f"known positive features axis, got shape {tuple(input_shape)}")
        self.kernel = self.add_weight(
            "kernel", (int(input_shape[-1]), self.units), self.kernel_initializer,
            regularizer=self.kernel_regularizer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        regularizer=self.bias_regularizer)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def call(self, inputs, training=False):
        """Applies the layer to (..., I) inputs; returns (..., O)."""
        shape = np.shape(inputs)
        if len(shape) < 2 or shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"Dense: input must have shape (..., {self.kernel.shape[0]}) for this layer, "
                f"got shape {shape}")
        y = ops.dense_forward(inputs, self.kernel, self.bias, self.activation)
        self._saved = (inputs, y) if training else None
        return y

    def backward(self, d_output):
        """Backpropagates through the last ``training=True`` call.

        Args:
            d_output: (..., O) gradient w.r.t. the layer's output.

        Returns:
            (..., I) gradient w.r.t. the inputs. Parameter gradients are added into
            ``self.gradients``.
        """
        if self._saved is None:
            raise RuntimeError(
                f"{self.name}: backward needs a preceding call with training=True")
        x, y = self._saved
        grads = ops.dense_backward(
            x, self.kernel, y, d_output, activation=self.activation, use_bias=self.use_bias,
            d_kernel=self.gradients[0], d_bias=self.gradients[1] if self.use_bias else None)
        self._saved = None
        return grads.x

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            kernel_constraint=None,
            bias_constraint=None,
        )
        return config
