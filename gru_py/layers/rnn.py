"""RNN: runs one recurrent cell, or a stack of them, over whole sequences.

Keras' RNN steps a cell through time in Python; here each cell runs its whole sequence
in one C call (``cell._sequence_forward``), so ``RNN(GRUCell(...))`` costs the same as
``GRU(...)``. A stack of cells runs cell by cell: each consumes the previous cell's
output sequence, which gives the same numbers as Keras' step-by-step stacking.
"""

import numpy as np

from gru_py.layers.base import Layer


def _as_list(value, count, what):
    """None, an array or a list of arrays -> a list of `count` entries (None allowed)."""
    if value is None:
        return [None] * count
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) != count:
        raise ValueError(
            f"{what} must hold one array per recurrent cell ({count}), got {len(values)}")
    return values


class RNN(Layer):
    """Base class for recurrent layers, and the wrapper of cells.

    Args:
        cell: a recurrent cell (``GRUCell``) or a list of cells, stacked in order.
        return_sequences: return the last cell's whole output sequence (B, T, H)
            instead of its last output (B, H).
        return_state: also return the last state of every cell.
        go_backwards: process time in reverse; sequences come back in processing order.
        stateful, unroll, zero_output_for_mask: Keras' arguments; ``unroll`` is accepted
            and has no effect (the loop is already fused in C), the others are not
            supported yet and rejected with NotImplementedError when set.
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        cells = list(cell) if isinstance(cell, (list, tuple)) else [cell]
        if not cells:
            raise ValueError("RNN: cell must be a cell or a non-empty list of cells")
        for c in cells:
            if not hasattr(c, "_sequence_forward"):
                raise NotImplementedError(
                    f"RNN: cells of type {type(c).__name__} are not supported yet; use "
                    "GRUCell")
        self._reject_unsupported(stateful=(bool(stateful), False),
                                 zero_output_for_mask=(bool(zero_output_for_mask), False))
        self.cells = cells
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)
        self._caches = None
        self._given_initial_state = False

    @property
    def cell(self):
        """The cell, or for a stack the list of cells (Keras wraps those in
        StackedRNNCells)."""
        return self.cells[0] if len(self.cells) == 1 else self.cells

    def build(self, input_shape):
        """Builds every cell for inputs of shape (batch, timesteps, features)."""
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__}: input must be 3-D (batch, timesteps, features), got "
                f"shape {tuple(input_shape)}")
        features = input_shape[-1]
        if features is None or int(features) <= 0:
            raise ValueError(
                f"{type(self).__name__}: the features axis of the input must be known and "
                f"positive, got shape {tuple(input_shape)}")
        for cell in self.cells:
            if not cell.built:
                cell.build((input_shape[0], int(features)))
            features = cell.output_size
            self._adopt_weights(cell)
        self.built = True

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        units = self.cells[-1].output_size
        output = (batch, steps, units) if self.return_sequences else (batch, units)
        if not self.return_state:
            return output
        return [output] + [(batch, cell.state_size) for cell in self.cells]

    def call(self, inputs, initial_state=None, mask=None, training=False):
        """Runs the cells over the sequences.

        Args:
            inputs: (B, T, I).
            initial_state: one (B, H) array per cell (a single array for one cell), or
                None for zeros.
            mask: not supported yet (must be None).
            training: keep what :meth:`backward` needs.

        Returns:
            The last cell's output, (B, T, H) or (B, H); with ``return_state`` a tuple
            ``(output, state_1, ..., state_n)``.
        """
        if mask is not None:
            raise NotImplementedError(f"{type(self).__name__}: masks are not supported yet")
        features = self.cells[0].input_size
        shape = np.shape(inputs)
        if len(shape) != 3 or shape[-1] != features:
            raise ValueError(
                f"{type(self).__name__}: input must be 3-D (batch, timesteps, {features}) "
                f"for this layer, got shape {shape}")
        states_in = _as_list(initial_state, len(self.cells), "initial_state")
        x, states, caches = inputs, [], []
        for i, cell in enumerate(self.cells):
            last = i == len(self.cells) - 1
            # Only the first cell reads time in reverse: the cells above it consume its
            # outputs step by step, in processing order.
            out = cell._sequence_forward(
                x, states_in[i], go_backwards=self.go_backwards and i == 0,
                training=training, return_sequences=self.return_sequences or not last)
            x = out.outputs
            states.append(out.last_state)
            caches.append(out.cache)
        self._caches = caches if training else None
        self._given_initial_state = initial_state is not None
        output = x if self.return_sequences else states[-1]
        if not self.return_state:
            return output
        if not self.return_sequences:
            # output and the last state hold the same values: hand out separate arrays
            states[-1] = states[-1].copy()
        return (output, *states)

    def backward(self, d_output, *d_states):
        """Backpropagates through the last ``training=True`` call.

        Args:
            d_output: gradient w.r.t. the output, (B, T, H) or (B, H), or None.
            *d_states: with ``return_state``, gradients w.r.t. the returned states
                (None for a state that received none).

        Returns:
            ``(d_inputs, d_initial_states)``: (B, T, I) and a list with one (B, H)
            gradient per cell. Parameter gradients are added into ``self.gradients``.
        """
        if self._caches is None:
            raise RuntimeError(f"{self.name}: backward needs a preceding call with training=True")
        d_states = list(d_states) + [None] * (len(self.cells) - len(d_states))
        if len(d_states) != len(self.cells):
            raise ValueError(
                f"{self.name}: expected at most {len(self.cells)} state gradients, got "
                f"{len(d_states)}")
        d_initial = [None] * len(self.cells)
        d_sequence = d_output if self.return_sequences else None
        for i in reversed(range(len(self.cells))):
            d_last = d_states[i]
            if i == len(self.cells) - 1 and not self.return_sequences and d_output is not None:
                d_last = d_output if d_last is None else _sum_same_shape(d_output, d_last,
                                                                         self.name)
            d_sequence, d_initial[i] = self.cells[i]._sequence_backward(
                self._caches[i], d_sequence, d_last)
        self._caches = None  # caches can be large; one backward per forward
        return d_sequence, d_initial

    def compute_mask(self, inputs, mask=None):
        """The output's mask: the (B, T) input mask when ``return_sequences`` (the output
        keeps the input's timesteps), else None; with ``return_state`` a list, that mask
        followed by None for each state."""
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.cells)
        return output_mask

    def _graph_forward(self, inputs, keyword_inputs, training, mask=None):
        outputs = self.call(inputs, initial_state=keyword_inputs.get("initial_state"),
                            mask=mask, training=training)
        outputs = list(outputs) if isinstance(outputs, tuple) else [outputs]
        self._track_activity(outputs, training)
        return outputs

    def _graph_backward(self, d_outputs):
        d_x, d_initial = self.backward(self._with_activity_gradient(d_outputs[0]),
                                       *d_outputs[1:])
        return d_x, ({"initial_state": d_initial} if self._given_initial_state else {})

    def get_config(self):
        from gru_py.layers import serialize

        config = super().get_config()
        cells = [serialize(c) for c in self.cells]
        config.update(
            cell=cells[0] if len(cells) == 1 else cells,
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=False,
            unroll=self.unroll,
            zero_output_for_mask=False,
        )
        return config

    @classmethod
    def from_config(cls, config):
        from gru_py.layers import deserialize

        config = dict(config)
        cell = config.pop("cell")
        cells = [deserialize(c) for c in cell] if isinstance(cell, list) else deserialize(cell)
        return cls(cells, **config)


def _sum_same_shape(a, b, name):
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"{name}: the output and state gradients must have the same shape (batch, "
            f"units), got {np.shape(a)} and {np.shape(b)}")
    return np.add(a, b, dtype=np.float32)
