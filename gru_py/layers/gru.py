"""GRUCell and GRU: Keras 3's constructors, weights and results, computed by the C core.

The cell owns the weights and knows how to run a whole sequence in one core call; the
``GRU`` layer is an :class:`~gru_py.layers.rnn.RNN` around one cell, as in Keras.
"""

import numpy as np

from gru_py import activations, initializers, ops, regularizers
from gru_py.layers.base import Layer
from gru_py.layers.rnn import RNN

# The cell's constructor arguments that GRU forwards to it, in Keras' order.
_CELL_ARGS = (
    "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout",
    "reset_after", "seed",
)


def _check_units(units):
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
        raise ValueError(
            f"Received an invalid value for argument `units`, expected a positive integer, "
            f"got {units!r}")
    return int(units)


class GRUCell(Layer):
    """The GRU cell (Keras 3 ``GRUCell``): weights, configuration and the core op.

    Weights: ``kernel`` (I, 3H), ``recurrent_kernel`` (H, 3H), gate columns [z | r | h];
    ``bias`` (2, 3H) (input and recurrent rows) with ``reset_after=True``, else (3H,).
    ``h_t = z * h_{t-1} + (1 - z) * hh``.

    Args:
        units: H, a positive int.
        activation: candidate activation ("tanh"; None means linear).
        recurrent_activation: z and r gate activation ("sigmoid").
        use_bias: whether the cell has a bias.
        kernel_initializer, recurrent_initializer, bias_initializer: names, configs,
            classes or callables ("glorot_uniform", "orthogonal", "zeros").
        kernel_regularizer, recurrent_regularizer, bias_regularizer: penalties added
            to the training loss ("l1", "l2", "l1_l2" or regularizer objects).
        reset_after: apply the reset gate after the recurrent product (Keras 3's default,
            equal to PyTorch and cuDNN) or before it (one bias, the original formula).
        seed: seed for dropout (stored; dropout itself is not supported yet).

    Not supported yet, rejected with NotImplementedError when set: constraints,
    ``dropout``, ``recurrent_dropout``.
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, reset_after=True, seed=None,
                 implementation=2, **kwargs):
        super().__init__(**kwargs)
        if implementation not in (1, 2):
            raise ValueError(f"implementation must be 1 or 2, got {implementation!r}")
        self._reject_unsupported(
            kernel_constraint=(kernel_constraint, None),
            recurrent_constraint=(recurrent_constraint, None),
            bias_constraint=(bias_constraint, None),
            dropout=(min(1.0, max(0.0, float(dropout))), 0.0),
            recurrent_dropout=(min(1.0, max(0.0, float(recurrent_dropout))), 0.0),
        )
        self.units = _check_units(units)
        self.activation = activations.get(activation, activations.RECURRENT, "activation")
        self.recurrent_activation = activations.get(
            recurrent_activation, activations.RECURRENT, "recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.reset_after = bool(reset_after)
        self.seed = seed
        self.implementation = implementation
        self._buffers = ops.GRUBuffers()  # scratch and cache memory reused across calls

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    @property
    def input_size(self):
        return self.kernel.shape[0]

    def build(self, input_shape):
        """Creates the weights for step inputs of shape (batch, features)."""
        features = input_shape[-1]
        if features is None or int(features) <= 0:
            raise ValueError(
                f"GRUCell: the features axis must be known and positive, got shape "
                f"{tuple(input_shape)}")
        H = self.units
        self.kernel = self.add_weight("kernel", (int(features), 3 * H), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (H, 3 * H), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", (2, 3 * H) if self.reset_after else (3 * H,), self.bias_initializer,
                regularizer=self.bias_regularizer)
        self.built = True

    def get_initial_state(self, batch_size):
        """Zeros of shape (batch_size, units), as Keras' cells start."""
        return np.zeros((int(batch_size), self.units), dtype=np.float32)

    def call(self, inputs, states, training=False):
        """One step: inputs (B, I), states [(B, H)] or (B, H) -> (h, [h])."""
        state = states[0] if isinstance(states, (list, tuple)) else states
        x = np.asarray(inputs)
        if x.ndim != 2:
            raise ValueError(
                f"GRUCell: inputs must be 2-D (batch, features), got shape {x.shape}")
        h = self._sequence_forward(x[:, None, :], state, go_backwards=False, training=False,
                                   return_sequences=False).last_state
        return h, [h]

    def _sequence_forward(self, x, initial_state, go_backwards, training, return_sequences):
        """The whole sequence in one core call; returns an ``ops.GRUOutput``."""
        return ops.gru_forward(
            x, self.kernel, self.recurrent_kernel, self.bias, initial_state,
            activation=self.activation, recurrent_activation=self.recurrent_activation,
            reset_after=self.reset_after, go_backwards=go_backwards, training=training,
            return_sequences=return_sequences, buffers=self._buffers)

    def _sequence_backward(self, cache, d_outputs, d_last_state):
        """Returns (d_x, d_initial_state); parameter gradients go into self.gradients."""
        grads = ops.gru_backward(
            cache, d_outputs, d_last_state, d_kernel=self.gradients[0],
            d_recurrent_kernel=self.gradients[1],
            d_bias=self.gradients[2] if self.use_bias else None)
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
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            recurrent_regularizer=regularizers.serialize(self.recurrent_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            kernel_constraint=None,
            recurrent_constraint=None,
            bias_constraint=None,
            dropout=0.0,
            recurrent_dropout=0.0,
            reset_after=self.reset_after,
            seed=self.seed,
        )
        return config


class GRU(RNN):
    """Gated Recurrent Unit layer (Cho et al. 2014), as Keras 3 defines it.

    ``GRU(units, ...)`` is ``RNN(GRUCell(units, ...))``: see :class:`GRUCell` for the
    cell's arguments and weights and :class:`~gru_py.layers.rnn.RNN` for
    ``return_sequences``, ``return_state``, ``go_backwards`` and initial states.

    Args (besides the cell's): activity_regularizer (a penalty on the layer's output),
        unroll (accepted; the C loop is already fused), use_cudnn ("auto", True or
        False; accepted, there is no GPU path).

    Not supported yet, rejected with NotImplementedError when set: constraints,
    ``dropout``, ``recurrent_dropout``, ``stateful``, masks.
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, use_cudnn="auto",
                 implementation=2, **kwargs):
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                f"use_cudnn should be one of 'auto', True or False, got {use_cudnn!r}")
        cell_kwargs = {k: v for k, v in locals().items() if k in _CELL_ARGS}
        cell = GRUCell(implementation=implementation, dtype=kwargs.get("dtype"), **cell_kwargs)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.use_cudnn = use_cudnn

    def __getattr__(self, name):
        # Keras exposes the cell's configuration and weights on the layer (gru.units,
        # gru.kernel, ...). Only reached for names the layer itself does not have.
        if name in _CELL_ARGS or name in ("kernel", "recurrent_kernel", "bias",
                                          "implementation"):
            cells = self.__dict__.get("cells")
            if cells:
                return getattr(cells[0], name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def get_config(self):
        config = Layer.get_config(self)
        cell_config = self.cells[0].get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        config.update(cell_config)
        config.update(
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=False,
            unroll=self.unroll,
            use_cudnn=self.use_cudnn,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
