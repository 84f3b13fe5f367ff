"""The GRU layer: Keras 3's constructor, weights and results, computed by the C core."""

import numpy as np

from gru_py import activations, initializers, ops
from gru_py.layers.base import Layer


def _as_initial_state(initial_state):
    """Keras accepts one state array or a list holding it."""
    if isinstance(initial_state, (list, tuple)):
        if len(initial_state) != 1:
            raise ValueError(
                f"GRU: initial_state must be one array (batch, units) or a list of one, "
                f"got a list of {len(initial_state)}")
        return initial_state[0]
    return initial_state


class GRU(Layer):
    """Gated Recurrent Unit layer (Cho et al. 2014), as Keras 3 defines it.

    Weights: ``kernel`` (I, 3H), ``recurrent_kernel`` (H, 3H), gate columns [z | r | h];
    ``bias`` (2, 3H) (input and recurrent rows) with ``reset_after=True``, else (3H,).
    ``h_t = z * h_{t-1} + (1 - z) * hh``.

    Args:
        units: H, a positive int.
        activation: candidate activation ("tanh"; None means linear).
        recurrent_activation: z and r gate activation ("sigmoid").
        use_bias: whether the layer has a bias.
        kernel_initializer, recurrent_initializer, bias_initializer: initializer names,
            configs or callables ("glorot_uniform", "orthogonal", "zeros").
        return_sequences: return the (B, T, H) sequence instead of the last (B, H) state.
        return_state: also return the last state.
        go_backwards: process time in reverse; sequences come back in processing order.
        reset_after: apply the reset gate after the recurrent product (Keras 3's default,
            equal to PyTorch and cuDNN) or before it (one bias, the original formula).
        unroll: accepted for compatibility; the C core's loop is already fused.
        use_cudnn: "auto", True or False; accepted for compatibility (no GPU here).
        seed: seed for dropout (stored; dropout itself is not supported yet).

    Not supported yet, and rejected with NotImplementedError when set: regularizers,
    constraints, ``dropout``, ``recurrent_dropout``, ``stateful``, masks.
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, use_cudnn="auto",
                 implementation=2, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(
                f"Received an invalid value for argument `units`, expected a positive "
                f"integer, got {units!r}")
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                f"use_cudnn should be one of 'auto', True or False, got {use_cudnn!r}")
        if implementation not in (1, 2):
            raise ValueError(f"implementation must be 1 or 2, got {implementation!r}")
        self._reject_unsupported(
            kernel_regularizer=(kernel_regularizer, None),
            recurrent_regularizer=(recurrent_regularizer, None),
            bias_regularizer=(bias_regularizer, None),
            activity_regularizer=(activity_regularizer, None),
            kernel_constraint=(kernel_constraint, None),
            recurrent_constraint=(recurrent_constraint, None),
            bias_constraint=(bias_constraint, None),
            dropout=(min(1.0, max(0.0, float(dropout))), 0.0),
            recurrent_dropout=(min(1.0, max(0.0, float(recurrent_dropout))), 0.0),
            stateful=(bool(stateful), False),
            zero_output_for_mask=(bool(zero_output_for_mask), False),
        )
        self.units = int(units)
        self.activation = activations.get(activation, activations.RECURRENT, "activation")
        self.recurrent_activation = activations.get(
            recurrent_activation, activations.RECURRENT, "recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)
        self.reset_after = bool(reset_after)
        self.use_cudnn = use_cudnn
        self.implementation = implementation
        self._cache = None

    def build(self, input_shape):
        """Creates the weights for inputs of shape (batch, timesteps, features)."""
        if len(input_shape) != 3:
            raise ValueError(
                f"GRU: input must be 3-D (batch, timesteps, features), got shape "
                f"{tuple(input_shape)}")
        features = input_shape[-1]
        if features is None or int(features) <= 0:
            raise ValueError(
                f"GRU: the features axis of the input must be known and positive, got "
                f"shape {tuple(input_shape)}")
        H = self.units
        self.kernel = self.add_weight("kernel", (int(features), 3 * H), self.kernel_initializer)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (H, 3 * H), self.recurrent_initializer)
        self.bias = None
        if self.use_bias:
            shape = (2, 3 * H) if self.reset_after else (3 * H,)
            self.bias = self.add_weight("bias", shape, self.bias_initializer)
        self.built = True

    def call(self, inputs, initial_state=None, mask=None, training=False):
        """Runs the layer.

        Args:
            inputs: (B, T, I).
            initial_state: (B, H) or a list of one such array; None for zeros.
            mask: not supported yet (must be None).
            training: keep what :meth:`backward` needs.

        Returns:
            (B, T, H) if ``return_sequences`` else (B, H); with ``return_state``, a
            tuple ``(output, last_state)``.
        """
        if mask is not None:
            raise NotImplementedError("GRU: masks are not supported yet; got a mask")
        shape = np.shape(inputs)
        if len(shape) != 3 or shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"GRU: input must be 3-D (batch, timesteps, {self.kernel.shape[0]}) for this "
                f"layer, got shape {shape}")
        out = ops.gru_forward(
            inputs, self.kernel, self.recurrent_kernel, self.bias,
            _as_initial_state(initial_state), activation=self.activation,
            recurrent_activation=self.recurrent_activation, reset_after=self.reset_after,
            go_backwards=self.go_backwards, training=bool(training),
            return_sequences=self.return_sequences)
        self._cache = out.cache
        output = out.outputs if self.return_sequences else out.last_state
        if not self.return_state:
            return output
        # Without return_sequences output and state are the same values; hand out two
        # arrays so that changing one never changes the other.
        return output, out.last_state if self.return_sequences else out.last_state.copy()

    def backward(self, d_output, d_state=None):
        """Backpropagates through the last ``training=True`` call.

        Args:
            d_output: gradient w.r.t. the layer's output, (B, T, H) or (B, H).
            d_state: with ``return_state``, gradient w.r.t. the returned state (B, H).

        Returns:
            ``(d_inputs, d_initial_state)``: (B, T, I) and (B, H). Parameter gradients
            are added into ``self.gradients``.
        """
        if self._cache is None:
            raise RuntimeError(
                f"{self.name}: backward needs a preceding call with training=True")
        if self.return_sequences:
            d_outputs, d_last = d_output, d_state
        elif d_state is None:
            d_outputs, d_last = None, d_output
        else:
            # The output is the last state: both gradients reach the same values.
            if np.shape(d_output) != np.shape(d_state):
                raise ValueError(
                    f"{self.name}: d_output and d_state must have the same shape (batch, "
                    f"units), got {np.shape(d_output)} and {np.shape(d_state)}")
            d_outputs, d_last = None, np.add(d_output, d_state, dtype=np.float32)
        grads = ops.gru_backward(
            self._cache, d_outputs, d_last, d_kernel=self.gradients[0],
            d_recurrent_kernel=self.gradients[1],
            d_bias=self.gradients[2] if self.use_bias else None)
        self._cache = None  # the cache can be large; one backward per forward
        return grads.x, grads.initial_state

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            recurrent_initializer=initializers.serialize(self.recurrent_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=None,
            recurrent_regularizer=None,
            bias_regularizer=None,
            activity_regularizer=None,
            kernel_constraint=None,
            recurrent_constraint=None,
            bias_constraint=None,
            dropout=0.0,
            recurrent_dropout=0.0,
            seed=self.seed,
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=False,
            unroll=self.unroll,
            reset_after=self.reset_after,
            use_cudnn=self.use_cudnn,
        )
        return config
