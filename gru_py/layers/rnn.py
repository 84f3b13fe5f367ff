"""RNN: runs one recurrent cell, or a stack of them, over whole sequences.

Keras' RNN steps a cell through time in Python; here each cell runs its whole sequence
in one C call (``cell._sequence_forward``), masks and dropout included, so
``RNN(GRUCell(...))`` costs the same as ``GRU(...)``. A stack of cells runs cell by cell:
each consumes the previous cell's output sequence, which gives the same numbers as Keras'
step-by-step stacking.
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
            f"{what} must hold one array per state of the layer's cells ({count}), got "
            f"{len(values)}")
    return values


class RNN(Layer):
    """Base class for recurrent layers, and the wrapper of cells.

    Args:
        cell: a recurrent cell (``GRUCell``, ``LSTMCell``, ``SimpleRNNCell``) or a list of
            cells, stacked in order.
        return_sequences: return the last cell's whole output sequence (B, T, H)
            instead of its last output (B, H).
        return_state: also return the last states of every cell, flattened in order
            (a GRU or SimpleRNN cell has one state, an LSTM cell two: h then c).
        go_backwards: process time in reverse; sequences come back in processing order.
        stateful: keep the last states of each batch as the initial states of the next
            (sample i continues sample i). Needs a fixed batch size (``Input(batch_size=
            ...)`` or ``batch_input_shape``); :meth:`reset_states` sets them to zeros.
        unroll: accepted and has no effect: the loop is already fused in C.
        zero_output_for_mask: output zeros at masked steps instead of repeating the
            previous output (only matters with ``return_sequences``).

    Masks: ``call(..., mask=m)`` with m (B, T) booleans, True where a step is used, as
    ``Masking`` and ``Embedding(mask_zero=True)`` produce. A masked step leaves every
    state unchanged and contributes nothing to any gradient.
    """

    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        cells = list(cell) if isinstance(cell, (list, tuple)) else [cell]
        if not cells:
            raise ValueError("RNN: cell must be a cell or a non-empty list of cells")
        for c in cells:
            if not hasattr(c, "_sequence_forward"):
                raise NotImplementedError(
                    f"RNN: cells of type {type(c).__name__} are not supported; use GRUCell, "
                    "LSTMCell or SimpleRNNCell")
        self.cells = cells
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._caches = None
        self._given_initial_state = False
        self._output_keep = None  # rows whose last output is real (masks), for backward
        self._stored_states = None  # stateful: the states carried to the next batch

    @property
    def cell(self):
        """The cell, or for a stack the list of cells (Keras wraps those in
        StackedRNNCells)."""
        return self.cells[0] if len(self.cells) == 1 else self.cells

    def _state_slices(self):
        """For each cell, the slice of the flat state list that holds its states."""
        slices, start = [], 0
        for cell in self.cells:
            slices.append(slice(start, start + cell.state_count))
            start += cell.state_count
        return slices

    @property
    def _state_total(self):
        return sum(cell.state_count for cell in self.cells)

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
        if self.stateful and input_shape[0] is None:
            raise ValueError(
                "When using `stateful=True` in a RNN, the batch size must be static. Found "
                "dynamic batch size: give the model a fixed batch size with "
                "Input(batch_size=...) or batch_input_shape=(batch, timesteps, features)")
        for cell in self.cells:
            if not cell.built:
                cell.build((input_shape[0], int(features)))
            features = cell.output_size
            self._adopt_weights(cell)
        if self.stateful:
            self._batch_size = int(input_shape[0])
            self._zero_states()
        self.built = True

    @property
    def states(self):
        """A stateful layer's current states (flat list of (batch, units) arrays), else
        None."""
        return None if self._stored_states is None else list(self._stored_states)

    def reset_states(self):
        """Sets a stateful layer's states to zeros (Keras' reset_states / reset_state)."""
        if not self.stateful:
            raise AttributeError(f"{self.name}: reset_states needs a layer with stateful=True")
        if self.built:  # else there are no states yet: build makes them zeros
            self._zero_states()

    def _zero_states(self):
        self._stored_states = [
            np.zeros((self._batch_size, cell.units), np.float32)
            for cell in self.cells for _ in range(cell.state_count)]

    reset_state = reset_states

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        units = self.cells[-1].output_size
        output = (batch, steps, units) if self.return_sequences else (batch, units)
        if not self.return_state:
            return output
        return [output] + [(batch, cell.units) for cell in self.cells
                           for _ in range(cell.state_count)]

    def compute_mask(self, inputs, mask=None):
        """The output keeps the input's mask only as a sequence (Keras)."""
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self._state_total
        return output_mask

    def _initial_states(self, initial_state, batch):
        """The flat list of initial states (None entries mean zeros)."""
        if initial_state is None and self.stateful:
            if batch != self._batch_size:
                raise ValueError(
                    f"{self.name}: this stateful layer was built for batches of "
                    f"{self._batch_size}, got a batch of {batch}; feed batches of that size "
                    "(e.g. fit(..., batch_size=...) with a sample count that divides by it)")
            return list(self._stored_states)
        return _as_list(initial_state, self._state_total, "initial_state")

    def call(self, inputs, initial_state=None, mask=None, training=False):
        """Runs the cells over the sequences.

        Args:
            inputs: (B, T, I).
            initial_state: the flat list of initial states, one (B, H) array per state
                of every cell (a single array for a one-state cell), or None for zeros
                (or, stateful, for the carried states).
            mask: (B, T) booleans, True where a step is used, or None.
            training: keep what :meth:`backward` needs, and apply dropout.

        Returns:
            The last cell's output, (B, T, H) or (B, H); with ``return_state`` a tuple
            ``(output, *states)``.
        """
        features = self.cells[0].input_size
        shape = np.shape(inputs)
        if len(shape) != 3 or shape[-1] != features:
            raise ValueError(
                f"{type(self).__name__}: input must be 3-D (batch, timesteps, {features}) "
                f"for this layer, got shape {shape}")
        states_in = self._initial_states(initial_state, shape[0])
        if mask is not None:
            mask = np.asarray(mask)
        x, states, caches = inputs, [], []
        for cell, part in zip(self.cells, self._state_slices()):
            first, last = cell is self.cells[0], cell is self.cells[-1]
            given = states_in[part]
            # Only the first cell reads time in reverse: the cells above it consume its
            # outputs step by step, in processing order, and so read the mask reversed.
            out = cell._sequence_forward(
                x, None if all(s is None for s in given) else given,
                go_backwards=self.go_backwards and first, training=training,
                return_sequences=self.return_sequences or not last,
                mask=mask if first or mask is None or not self.go_backwards else mask[:, ::-1],
                zero_output_for_mask=self.zero_output_for_mask and last)
            x = out.outputs
            states += [out.last_state] + ([out.last_carry] if cell.state_count == 2 else [])
            caches.append(out.cache)
        self._caches = caches if training else None
        self._given_initial_state = initial_state is not None
        if self.stateful:
            self._stored_states = [s.copy() for s in states]
        last_h = states[self._state_slices()[-1].start]
        # A row that a mask skipped entirely has no last output: Keras gives zeros.
        self._output_keep = None if mask is None else mask.any(axis=1)[:, None]
        if self.return_sequences:
            output = x
        elif self._output_keep is not None:
            output = np.where(self._output_keep, last_h, np.float32(0.0))
        else:
            # without return_state the state itself can be the output; with it, hand out
            # separate arrays
            output = last_h.copy() if self.return_state else last_h
        return (output, *states) if self.return_state else output

    def backward(self, d_output, *d_states, input_gradient=True):
        """Backpropagates through the last ``training=True`` call.

        Args:
            d_output: gradient w.r.t. the output, (B, T, H) or (B, H), or None.
            *d_states: with ``return_state``, gradients w.r.t. the returned states
                (None for a state that received none).
            input_gradient: False skips the gradient w.r.t. the inputs (returned as
                None), for inputs that are data; the other gradients are unchanged.

        Returns:
            ``(d_inputs, d_initial_states)``: (B, T, I) or None, and the flat list of
            (B, H) gradients w.r.t. every initial state. Parameter gradients are added
            into ``self.gradients``.
        """
        if self._caches is None:
            raise RuntimeError(f"{self.name}: backward needs a preceding call with training=True")
        total = self._state_total
        d_states = list(d_states) + [None] * (total - len(d_states))
        if len(d_states) != total:
            raise ValueError(
                f"{self.name}: expected at most {total} state gradients, got {len(d_states)}")
        slices = self._state_slices()
        d_sequence = d_output if self.return_sequences else None
        if not self.return_sequences and d_output is not None:
            if self._output_keep is not None:
                d_output = np.where(self._output_keep, d_output, np.float32(0.0))
            h = slices[-1].start
            d_states[h] = d_output if d_states[h] is None else _sum_same_shape(
                d_output, d_states[h], self.name)
        d_initial = [None] * total
        for i in reversed(range(len(self.cells))):
            # the cells above the first read the outputs of the one below: those
            # gradients are always needed
            d_sequence, d_initial[slices[i]] = self.cells[i]._sequence_backward(
                self._caches[i], d_sequence, d_states[slices[i]],
                input_gradient=input_gradient or i > 0)
        self._caches = None  # caches can be large; one backward per forward
        return d_sequence, d_initial

    def gate_activations(self, inputs, initial_state=None, mask=None):
        """What the layer's gates do over time, for a batch of sequences.

        Runs the layer (without dropout, leaving any pending backward intact) and
        returns, for a single cell, a dict of (B, T, H) arrays in processing order:
        GRU ``z`` (update) and ``r`` (reset); LSTM ``i`` (input), ``f`` (forget), ``o``
        (output) and ``c`` (cell state); every cell ``h`` (the hidden state after each
        step). Gates read NaN at steps a mask skipped. A stack of cells gives a list of
        such dicts, one per cell.
        """
        if not self.built:
            self.build(np.shape(inputs))
        states_in = self._initial_states(initial_state, np.shape(inputs)[0])
        if mask is not None:
            mask = np.asarray(mask)
        x, result = inputs, []
        for cell, part in zip(self.cells, self._state_slices()):
            first = cell is self.cells[0]
            given = states_in[part]
            gates = cell._gate_activations(
                x, None if all(s is None for s in given) else given,
                go_backwards=self.go_backwards and first,
                mask=mask if first or mask is None or not self.go_backwards else mask[:, ::-1])
            result.append(gates)
            x = gates["h"]
        return result[0] if len(result) == 1 else result

    def _graph_forward(self, inputs, keyword_inputs, training, mask=None):
        outputs = self.call(inputs, initial_state=keyword_inputs.get("initial_state"),
                            mask=mask, training=training)
        outputs = list(outputs) if isinstance(outputs, tuple) else [outputs]
        self._track_activity(outputs, training)
        return outputs

    def _graph_backward(self, d_outputs, input_gradient=True):
        d_x, d_initial = self.backward(self._with_activity_gradient(d_outputs[0]),
                                       *d_outputs[1:], input_gradient=input_gradient)
        return d_x, ({"initial_state": d_initial} if self._given_initial_state else {})

    def get_config(self):
        from gru_py.layers import serialize

        config = super().get_config()
        cells = [serialize(c) for c in self.cells]
        config.update(
            cell=cells[0] if len(cells) == 1 else cells,
            **self._sequence_config(),
        )
        return config

    def _sequence_config(self):
        return dict(
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
        )

    @classmethod
    def from_config(cls, config):
        from gru_py.layers import deserialize

        config = dict(config)
        cell = config.pop("cell")
        cells = [deserialize(c) for c in cell] if isinstance(cell, list) else deserialize(cell)
        return cls(cells, **config)


class CellLayer(RNN):
    """A recurrent layer built around one cell from its own arguments, the way Keras'
    GRU, LSTM and SimpleRNN are: the layer takes the cell's arguments and the sequence
    flags, and exposes the cell's configuration and weights as its own attributes.

    Subclasses set ``cell_class`` and ``cell_args`` (the constructor arguments that go to
    the cell) and pass their ``locals()`` to ``__init__``.
    """

    cell_class = None
    cell_args = ()

    def __init__(self, arguments, **kwargs):
        use_cudnn = arguments.get("use_cudnn", "auto")
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                f"use_cudnn should be one of 'auto', True or False, got {use_cudnn!r}")
        cell_kwargs = {k: arguments[k] for k in self.cell_args}
        if "implementation" in arguments:
            cell_kwargs["implementation"] = arguments["implementation"]
        cell = self.cell_class(dtype=kwargs.get("dtype"), **cell_kwargs)
        super().__init__(
            cell, return_sequences=arguments["return_sequences"],
            return_state=arguments["return_state"], go_backwards=arguments["go_backwards"],
            stateful=arguments["stateful"], unroll=arguments["unroll"],
            activity_regularizer=arguments["activity_regularizer"], **kwargs)
        if "use_cudnn" in arguments:
            self.use_cudnn = use_cudnn

    def __getattr__(self, name):
        # Keras exposes the cell's configuration and weights on the layer (gru.units,
        # gru.kernel, ...). Only reached for names the layer itself does not have.
        if name in type(self).cell_args or name in ("kernel", "recurrent_kernel", "bias",
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
        config.update(self._sequence_config())
        if hasattr(self, "use_cudnn"):
            config["use_cudnn"] = self.use_cudnn
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _sum_same_shape(a, b, name):
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"{name}: the output and state gradients must have the same shape (batch, "
            f"units), got {np.shape(a)} and {np.shape(b)}")
    return np.add(a, b, dtype=np.float32)
