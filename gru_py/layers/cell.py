"""What every fused recurrent cell shares: weights, dropout masks and the core call.

A cell owns its weights and runs a whole sequence in one core call
(``_sequence_forward`` / ``_sequence_backward``); :class:`~gru_py.layers.rnn.RNN` strings
cells together. GRUCell, LSTMCell and SimpleRNNCell differ only in their gate count, state
count, bias layout, the op they call and a few constructor arguments.
"""

import numpy as np

from gru_py import _random, activations, initializers, ops, regularizers
from gru_py.layers.base import Layer


def check_units(units):
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
        raise ValueError(
            f"Received an invalid value for argument `units`, expected a positive integer, "
            f"got {units!r}")
    return int(units)


def _check_rate(value, argument):
    """Keras clamps dropout rates to [0, 1]; anything not a number is an error."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{argument} must be a float in [0, 1], got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{argument} must be a float in [0, 1], got {value!r}")
    return min(1.0, max(0.0, float(value)))


class RecurrentCell(Layer):
    """Base class of the fused cells (not used directly).

    Subclasses set ``_kind``, the cell as gru_py.ops describes it (its gate count G and
    state count S), and implement ``_bias_shape``, ``_run`` and their own config.

    Dropout follows Keras 3: in training, ``dropout`` drops input features and
    ``recurrent_dropout`` drops the recurrent state entering the gates, with one mask per
    sequence (the same at every step), scaled by 1 / (1 - rate), drawn anew at every call
    as ``rng.random(shape, dtype=float32) >= rate``.
    Recurrent dropout, or ``implementation=1``, draws one mask per gate block, as Keras'
    implementation 1 does; otherwise one input mask serves every gate. The masks come
    from the cell's own generator, seeded by ``seed`` (or by the global seed of
    :func:`gru_py.utils.set_random_seed`).
    """

    _kind = None  # ops._GRU, ops._LSTM or ops._SIMPLE_RNN

    def __init__(self, units, activation, use_bias, kernel_initializer, recurrent_initializer,
                 bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                 kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                 recurrent_dropout, seed, implementation=2, **kwargs):
        super().__init__(**kwargs)
        if implementation not in (1, 2):
            raise ValueError(f"implementation must be 1 or 2, got {implementation!r}")
        self._reject_unsupported(
            kernel_constraint=(kernel_constraint, None),
            recurrent_constraint=(recurrent_constraint, None),
            bias_constraint=(bias_constraint, None),
        )
        self.units = check_units(units)
        self.activation = activations.get(activation, activations.RECURRENT, "activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = _check_rate(dropout, "dropout")
        self.recurrent_dropout = _check_rate(recurrent_dropout, "recurrent_dropout")
        # Keras switches to implementation 1 (per-gate masks) under recurrent dropout.
        self.implementation = 1 if self.recurrent_dropout else implementation
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.seed = seed
        self._rng = _random.new_generator(seed)
        self._step_masks = None  # the masks of a sequence stepped by hand (call)
        self._buffers = ops.RNNBuffers()  # scratch and cache memory reused across calls

    @property
    def gate_count(self):
        """G: the gate blocks side by side in the kernels."""
        return self._kind.gates

    @property
    def state_count(self):
        """S: the state arrays (an LSTM's h and c)."""
        return self._kind.states

    @property
    def state_size(self):
        return self.units if self.state_count == 1 else [self.units] * self.state_count

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
                f"{type(self).__name__}: the features axis must be known and positive, got "
                f"shape {tuple(input_shape)}")
        width = self.gate_count * self.units
        self.kernel = self.add_weight("kernel", (int(features), width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, width), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_initializer(),
                                        regularizer=self.bias_regularizer)
        self.built = True

    def _bias_shape(self):
        return (self.gate_count * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def get_initial_state(self, batch_size):
        """Zeros of shape (batch_size, units), one per state, as Keras' cells start."""
        return [np.zeros((int(batch_size), self.units), dtype=np.float32)
                for _ in range(self.state_count)]

    def call(self, inputs, states, training=False):
        """One step: inputs (B, I) and the list of states -> (output, new states).

        In training, the dropout masks drawn at the first step are kept for the following
        ones, so that a sequence stepped by hand sees one mask, as a whole-sequence call
        does; :meth:`reset_dropout_mask` and :meth:`reset_recurrent_dropout_mask` start a
        new sequence (Keras' DropoutRNNCell).
        """
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        x = np.asarray(inputs)
        if x.ndim != 2:
            raise ValueError(
                f"{type(self).__name__}: inputs must be 2-D (batch, features), got shape "
                f"{x.shape}")
        masks = {}
        if training:
            if self._step_masks is None or self._step_masks[0] != x.shape[0]:
                self._step_masks = (x.shape[0], *self._dropout_masks(x.shape[0], True))
            if self._step_masks[1] is not None or self._step_masks[2] is not None:
                masks = {"dropout_mask": self._step_masks[1],
                         "recurrent_dropout_mask": self._step_masks[2]}
        if not masks:
            try:
                last = ops._step_forward(
                    self._kind, x, self.kernel, self.recurrent_kernel, self.bias, states,
                    self.activation, getattr(self, "recurrent_activation", "sigmoid"),
                    getattr(self, "reset_after", False), self._buffers)
            except (TypeError, ValueError):
                last = None  # the general path below reports the problem in its words
            if last is not None:
                new_states = list(last)
                return new_states[0], new_states
        out = self._run(x[:, None, :], states, training=False, return_sequences=False,
                        buffers=self._buffers, **masks)
        new_states = [out.last_state] + ([out.last_carry] if self.state_count == 2 else [])
        return out.last_state, new_states

    def reset_dropout_mask(self):
        """Forgets the masks of a sequence stepped by hand: the next training step draws
        new ones."""
        self._step_masks = None

    reset_recurrent_dropout_mask = reset_dropout_mask

    def _dropout_masks(self, batch, training):
        """(dropout_mask, recurrent_dropout_mask) for one call: None, or multipliers."""
        per_gate = (self.gate_count,) if self.implementation == 1 else ()

        def draw(rate, width):
            if not (training and 0.0 < rate < 1.0):
                return None
            # float32 draws: half the cost of float64, at every training step
            keep = self._rng.random(per_gate + (batch, width), dtype=np.float32) >= rate
            return np.divide(keep, np.float32(1.0 - rate), dtype=np.float32)

        return (draw(self.dropout, self.input_size),
                draw(self.recurrent_dropout, self.units))

    def _sequence_forward(self, x, initial_states, go_backwards, training, return_sequences,
                          mask=None, zero_output_for_mask=False):
        """The whole sequence in one core call; returns an ``ops.RNNOutput``.
        ``initial_states`` is None or the list of this cell's states."""
        dropout_mask, recurrent_dropout_mask = self._dropout_masks(np.shape(x)[0], training)
        return self._run(
            x, initial_states, go_backwards=go_backwards, training=training,
            return_sequences=return_sequences, mask=mask,
            zero_output_for_mask=zero_output_for_mask, dropout_mask=dropout_mask,
            recurrent_dropout_mask=recurrent_dropout_mask, buffers=self._buffers)

    def _gate_activations(self, x, initial_states, go_backwards, mask):
        """ops.gate_activations of a forward without dropout, leaving the cell's buffers
        (and so a pending backward) alone."""
        out = self._run(x, initial_states, go_backwards=go_backwards, training=True,
                        return_sequences=False, mask=mask, zero_output_for_mask=False,
                        dropout_mask=None, recurrent_dropout_mask=None, buffers=None)
        return ops.gate_activations(out.cache)

    def _sequence_backward(self, cache, d_outputs, d_last_states, input_gradient=True):
        """Returns (d_x, list of d_initial_states); parameter gradients go into
        self.gradients. d_x is None when ``input_gradient`` is False."""
        # Gradients that overflowed downstream (a diverging model) are let through: they
        # make NaN gradients here, which the model catches before any update.
        grads = ops.rnn_backward(
            cache, d_outputs, *d_last_states, d_kernel=self.gradients[0],
            d_recurrent_kernel=self.gradients[1],
            d_bias=self.gradients[2] if self.use_bias else None, check_finite=False,
            input_gradient=input_gradient)
        initial = [grads.initial_state]
        if self.state_count == 2:
            initial.append(grads.initial_carry)
        return grads.x, initial

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=self.activation,
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
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            seed=self.seed,
        )
        return config
