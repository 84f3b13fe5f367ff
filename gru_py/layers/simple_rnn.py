"""SimpleRNNCell and SimpleRNN: Keras 3's fully-connected RNN, computed by the C core."""

from gru_py import ops
from gru_py.layers.cell import RecurrentCell
from gru_py.layers.rnn import CellLayer


class SimpleRNNCell(RecurrentCell):
    """The fully-connected RNN cell (Keras 3 ``SimpleRNNCell``):
    ``h_t = act(x W + b + h_{t-1} U)``.

    Weights: ``kernel`` (I, H), ``recurrent_kernel`` (H, H), ``bias`` (H,).

    Args: as :class:`~gru_py.layers.gru.GRUCell`, without ``recurrent_activation`` and
        ``reset_after``.

    Not supported yet, rejected with NotImplementedError when set: constraints.
    """

    _kind = ops._SIMPLE_RNN

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer,
                         recurrent_regularizer, bias_regularizer, kernel_constraint,
                         recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
                         seed, **kwargs)

    def _run(self, x, initial_states, **options):
        return ops.simple_rnn_forward(
            x, self.kernel, self.recurrent_kernel, self.bias,
            None if initial_states is None else initial_states[0],
            activation=self.activation, **options)


class SimpleRNN(CellLayer):
    """Fully-connected RNN layer, as Keras 3 defines it: ``RNN(SimpleRNNCell(...))``.

    See :class:`SimpleRNNCell` for the cell's arguments and
    :class:`~gru_py.layers.rnn.RNN` for the sequence flags, masks and states.
    """

    cell_class = SimpleRNNCell
    cell_args = (
        "units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer",
        "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
        "bias_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint",
        "dropout", "recurrent_dropout", "seed",
    )

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, seed=None, **kwargs):
        super().__init__(locals(), **kwargs)
