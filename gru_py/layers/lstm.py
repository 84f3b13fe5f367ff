"""LSTMCell and LSTM: Keras 3's long short-term memory, computed by the C core."""

import numpy as np

from gru_py import activations, ops
from gru_py.layers.cell import RecurrentCell
from gru_py.layers.rnn import CellLayer


class _UnitForgetBias:
    """Keras' unit_forget_bias: the bias initializer's values with the forget block set
    to ones, [b(H) | 1(H) | b(2H)]."""

    def __init__(self, base, units):
        self.base, self.units = base, units

    def __call__(self, shape):
        H = self.units
        return np.concatenate([self.base((H,)), np.ones(H, np.float32), self.base((2 * H,))])


class LSTMCell(RecurrentCell):
    """The LSTM cell (Keras 3 ``LSTMCell``, Hochreiter 1997).

    Weights: ``kernel`` (I, 4H), ``recurrent_kernel`` (H, 4H), gate columns
    [i | f | c | o]; ``bias`` (4H,). States [h, c]:
    ``c_t = f * c_{t-1} + i * act(.)``, ``h_t = o * act(c_t)``.

    Args: as :class:`~gru_py.layers.gru.GRUCell` (without ``reset_after``), plus
        unit_forget_bias: initialise the forget gate's bias to ones (Keras' default).

    Not supported yet, rejected with NotImplementedError when set: constraints.
    """

    _kind = ops._LSTM

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer,
                         recurrent_regularizer, bias_regularizer, kernel_constraint,
                         recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
                         seed, **kwargs)
        self.recurrent_activation = activations.get(
            recurrent_activation, activations.RECURRENT, "recurrent_activation")
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self):
        if self.unit_forget_bias:
            return _UnitForgetBias(self.bias_initializer, self.units)
        return self.bias_initializer

    def _run(self, x, initial_states, **options):
        return ops.lstm_forward(
            x, self.kernel, self.recurrent_kernel, self.bias, initial_states,
            activation=self.activation, recurrent_activation=self.recurrent_activation,
            **options)

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=self.recurrent_activation,
                      unit_forget_bias=self.unit_forget_bias)
        return config


class LSTM(CellLayer):
    """Long Short-Term Memory layer (Hochreiter 1997), as Keras 3 defines it.

    ``LSTM(units, ...)`` is ``RNN(LSTMCell(units, ...))``: see :class:`LSTMCell` for the
    cell's arguments and weights and :class:`~gru_py.layers.rnn.RNN` for the sequence
    flags, masks and states. With ``return_state`` it returns ``output, h, c``.
    """

    cell_class = LSTMCell
    cell_args = (
        "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
        "recurrent_initializer", "bias_initializer", "unit_forget_bias",
        "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
        "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
        "recurrent_dropout", "seed",
    )

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto",
                 implementation=2, **kwargs):
        super().__init__(locals(), **kwargs)
