"""GRUCell and GRU: Keras 3's constructors, weights and results, computed by the C core.

The cell owns the weights and knows how to run a whole sequence in one core call; the
``GRU`` layer is an :class:`~gru_py.layers.rnn.RNN` around one cell, as in Keras.
"""

from gru_py import activations, ops
from gru_py.layers.cell import RecurrentCell
from gru_py.layers.rnn import CellLayer


class GRUCell(RecurrentCell):
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
        dropout, recurrent_dropout: rates in [0, 1] (see
            :class:`~gru_py.layers.cell.RecurrentCell` for the masks).
        reset_after: apply the reset gate after the recurrent product (Keras 3's default,
            equal to PyTorch and cuDNN) or before it (one bias, the original formula).
        seed: seed of the dropout masks.

    Not supported yet, rejected with NotImplementedError when set: constraints.
    """

    _kind = ops._GRU

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, reset_after=True, seed=None, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer,
                         recurrent_regularizer, bias_regularizer, kernel_constraint,
                         recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
                         seed, **kwargs)
        self.recurrent_activation = activations.get(
            recurrent_activation, activations.RECURRENT, "recurrent_activation")
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _run(self, x, initial_states, **options):
        return ops.gru_forward(
            x, self.kernel, self.recurrent_kernel, self.bias,
            None if initial_states is None else initial_states[0],
            activation=self.activation, recurrent_activation=self.recurrent_activation,
            reset_after=self.reset_after, **options)

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=self.recurrent_activation,
                      reset_after=self.reset_after)
        return config


class GRU(CellLayer):
    """Gated Recurrent Unit layer (Cho et al. 2014), as Keras 3 defines it.

    ``GRU(units, ...)`` is ``RNN(GRUCell(units, ...))``: see :class:`GRUCell` for the
    cell's arguments and weights and :class:`~gru_py.layers.rnn.RNN` for
    ``return_sequences``, ``return_state``, ``go_backwards``, ``stateful``, masks and
    initial states.

    Args (besides the cell's): activity_regularizer (a penalty on the layer's output),
        unroll (accepted; the C loop is already fused), use_cudnn ("auto", True or
        False; accepted, there is no GPU path).
    """

    cell_class = GRUCell
    # The cell's constructor arguments that GRU forwards to it, in Keras' order.
    cell_args = (
        "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
        "recurrent_initializer", "bias_initializer", "kernel_regularizer",
        "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
        "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout",
        "reset_after", "seed",
    )

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, use_cudnn="auto",
                 implementation=2, **kwargs):
        super().__init__(locals(), **kwargs)
