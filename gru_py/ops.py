"""The low-level functional API: the C core's operations on plain NumPy arrays.

Use these for hand-written training loops; the layers in :mod:`gru_py.layers` are built
on them. Every function computes in float32 (Keras' default): inputs of other real
dtypes are converted, anything else raises TypeError; wrong shapes, empty arrays and
NaN or Inf raise ValueError naming the argument.

Dimension letters: B batch, T timesteps, I input features, H units, O output units.
Weights use the Keras 3 layout: gate columns are ordered [z | r | h] for the GRU and
[i | f | c | o] for the LSTM.

Gradient contract: the backward functions return fresh parameter gradients, or, when
you pass accumulator arrays (``d_kernel=...``), add into them in place and return them.
Input and state gradients are always new arrays.

Example, one GRU training step by hand::

    out = ops.gru_forward(x, kernel, recurrent_kernel, bias)
    loss = ((out.last_state - target) ** 2).sum()
    grads = ops.rnn_backward(out.cache, d_last_state=2 * (out.last_state - target))
    kernel -= 0.01 * grads.kernel
"""

from typing import NamedTuple, Optional

import numpy as np

from gru_py import activations
from gru_py._native import _core

# Floats in a 4 KiB page: RNNBuffers' arrays start at a multiple of this. Streaming the
# cache needs 64 bytes; a page boundary also gives each job's rows pages of their own
# wherever a job's block of rows fills whole pages (S2's do), and the hardware
# prefetchers, which stay within a page, then never fetch lines of the other job's rows.
# S2's epoch was 0.9% faster than with 64 bytes (30 alternating rounds).
_ALIGN_FLOATS = 1024


class RNNBuffers:
    """Memory that the recurrent forwards and :func:`rnn_backward` reuse from call to call.

    Without it every call allocates its scratch memory and cache afresh, and the operating
    system must map and zero those megabytes again each time. A layer keeps one of these;
    so can a hand-written loop. The arrays grow to the largest call seen and are reused.
    They start at a page boundary (4 KiB), where the core can stream a training forward's
    cache past the CPU caches.

    A cache made with buffers is valid until the next training forward with the same
    buffers, which overwrites it; :func:`rnn_backward` raises if it is handed a cache that
    was overwritten.
    """

    def __init__(self):
        self._arrays = {}
        self._views = {}  # name -> the aligned view last handed out
        self._sizes = None  # (key, sizes) of the last call's configuration
        self._step = None  # (key, workspace) of the last single step (_step_workspace)
        self._generation = 0

    def _take(self, name, size):
        # A cell stepped from Python asks for the same view at every step; finding its
        # address again took a microsecond of a 20-microsecond step.
        view = self._views.get(name)
        if view is not None and view.size == size:
            return view
        array = self._arrays.get(name)
        if array is None or array.size < size + _ALIGN_FLOATS:
            array = self._arrays[name] = np.empty(size + _ALIGN_FLOATS, dtype=np.float32)
        start = (-array.ctypes.data % (4 * _ALIGN_FLOATS)) // 4
        view = self._views[name] = array[start:start + size]
        return view

    def _step_workspace(self, cell, sizes):
        """The workspace of an inference step without dropout, remembered for the next
        step of the same sizes. It stays valid after a later call grows the "forward"
        array: it keeps the array it is a view of."""
        if self._step is None or self._step[0] != (cell.code, sizes):
            size = self._buffer_sizes(cell, sizes, _NO_DROPOUT)[2]
            self._step = ((cell.code, sizes), self._take("forward", size))
        return self._step[1]

    def _buffer_sizes(self, cell, sizes, arrays):
        """_buffer_sizes, remembered for the configuration of the last call."""
        key = (cell.code, sizes, arrays["dropout_mask"] is not None,
               arrays["recurrent_dropout_mask"] is not None)
        if self._sizes is None or self._sizes[0] != key:
            self._sizes = (key, _buffer_sizes(cell, sizes, arrays))
        return self._sizes[1]


class _Cell(NamedTuple):
    """What the ops need to know about a kind of recurrent cell."""

    name: str
    code: int
    gates: int  # G: gate blocks side by side in the kernels
    states: int  # S: state tensors (LSTM: h and c)


_GRU = _Cell("gru", _core.CELL_GRU, 3, 1)
_LSTM = _Cell("lstm", _core.CELL_LSTM, 4, 2)
_SIMPLE_RNN = _Cell("simple_rnn", _core.CELL_SIMPLE_RNN, 1, 1)


class RNNCache:
    """What a training-mode recurrent forward keeps for :func:`rnn_backward`.

    Opaque, apart from :func:`gate_activations`. It references the forward's inputs,
    weights and masks, which must not be modified until the backward has run.
    """

    __slots__ = ("_data", "_cell", "_arrays", "_options", "_buffers", "_generation")

    def __init__(self, data, cell, arrays, options, buffers=None):
        self._data = data
        self._cell = cell
        self._arrays = arrays  # x, kernels, mask and dropout masks, as the core read them
        self._options = options
        self._buffers = buffers
        self._generation = buffers._generation if buffers is not None else None

    @property
    def nbytes(self):
        """Bytes held by the cached activations."""
        return self._data.nbytes


class RNNOutput(NamedTuple):
    """Result of :func:`gru_forward`, :func:`lstm_forward` and :func:`simple_rnn_forward`.

    Attributes:
        outputs: (B, T, H) the output of every step in processing order, or None when
            ``return_sequences=False``.
        last_state: (B, H) the hidden state after the last step.
        cache: an :class:`RNNCache` when ``training=True``, else None.
        last_carry: (B, H) the LSTM's carry (cell state) after the last step; None for
            the other cells.
    """

    outputs: Optional[np.ndarray]
    last_state: np.ndarray
    cache: Optional[RNNCache]
    last_carry: Optional[np.ndarray] = None


class RNNGradients(NamedTuple):
    """Gradients from :func:`rnn_backward`, named after what they differentiate.

    Attributes:
        x: (B, T, I); None from ``rnn_backward(..., input_gradient=False)``.
        initial_state: (B, H).
        kernel: (I, G*H).
        recurrent_kernel: (H, G*H).
        bias: the bias's shape, or None for a forward without bias.
        initial_carry: (B, H) for the LSTM's initial carry; None for the other cells.
    """

    x: np.ndarray
    initial_state: np.ndarray
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: Optional[np.ndarray]
    initial_carry: Optional[np.ndarray] = None


class DenseGradients(NamedTuple):
    """Gradients from :func:`dense_backward`: x (..., I), kernel (I, O), bias (O,) or None."""

    x: np.ndarray
    kernel: np.ndarray
    bias: Optional[np.ndarray]


def _check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


# The arguments every recurrent forward shares, documented once here and referred to by
# each forward's docstring.
_COMMON_ARGS_DOC = """
        go_backwards: process time in reverse; outputs stay in processing order.
        training: keep what :func:`rnn_backward` needs (returned as ``cache``).
        return_sequences: return every step's output, not only the last state.
        buffers: an :class:`RNNBuffers` to reuse memory across calls, or None.
        mask: (B, T) booleans, True where a step is used, or None. At a skipped step the
            states are carried over unchanged and the output repeats the previous one
            (zeros before the row's first used step), as in Keras.
        zero_output_for_mask: output zeros at skipped steps instead.
        dropout_mask: multipliers (0, or 1 / (1 - rate)) applied to the inputs: (B, I)
            shared by every gate, or (G, B, I) one per gate block; None for none.
        recurrent_dropout_mask: the same for the recurrent state: (B, H) or (G, B, H).
            Dropout is applied to what enters the gates' products; the state update
            uses the undropped states (Keras' semantics).
"""


def gru_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, *,
                activation="tanh", recurrent_activation="sigmoid", reset_after=True,
                go_backwards=False, training=True, return_sequences=True, buffers=None,
                mask=None, zero_output_for_mask=False, dropout_mask=None,
                recurrent_dropout_mask=None):
    """Runs a GRU over whole sequences (Keras 3 formulas).

    Args:
        x: (B, T, I) input sequences.
        kernel: (I, 3H) input weights, gate columns [z | r | h].
        recurrent_kernel: (H, 3H) recurrent weights, same column order.
        bias: (2, 3H) [input bias; recurrent bias] when ``reset_after``, else (3H,);
            None for no bias.
        initial_state: (B, H), or None for zeros.
        activation: candidate activation ("tanh", "sigmoid", "hard_sigmoid", "relu",
            "linear" or None for linear).
        recurrent_activation: activation of the z and r gates, same choices.
        reset_after: apply the reset gate after the recurrent product (Keras 3 and
            PyTorch default) or before it (the original GRU, one bias).
    """ + _COMMON_ARGS_DOC + """
    Returns:
        An :class:`RNNOutput` (outputs, last_state, cache).
    """
    return _rnn_forward(
        _GRU, x, kernel, recurrent_kernel, bias, None if initial_state is None else
        [initial_state], activation=activation, recurrent_activation=recurrent_activation,
        reset_after=_check_flag(reset_after, "reset_after"), go_backwards=go_backwards,
        training=training, return_sequences=return_sequences, buffers=buffers, mask=mask,
        zero_output_for_mask=zero_output_for_mask, dropout_mask=dropout_mask,
        recurrent_dropout_mask=recurrent_dropout_mask)


def lstm_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, *,
                 activation="tanh", recurrent_activation="sigmoid", go_backwards=False,
                 training=True, return_sequences=True, buffers=None, mask=None,
                 zero_output_for_mask=False, dropout_mask=None, recurrent_dropout_mask=None):
    """Runs an LSTM over whole sequences (Keras 3 formulas).

    Args:
        x: (B, T, I) input sequences.
        kernel: (I, 4H) input weights, gate columns [i | f | c | o].
        recurrent_kernel: (H, 4H) recurrent weights, same column order.
        bias: (4H,), or None for no bias.
        initial_state: a pair ``(h0, c0)`` of (B, H) arrays, or None for zeros.
        activation: candidate and output activation (default "tanh").
        recurrent_activation: activation of the i, f and o gates (default "sigmoid").
    """ + _COMMON_ARGS_DOC + """
    Returns:
        An :class:`RNNOutput`; ``last_carry`` is the final cell state c.
    """
    if initial_state is not None and (not isinstance(initial_state, (list, tuple))
                                      or len(initial_state) != 2):
        raise ValueError(
            "initial_state must be a pair (h0, c0) of (batch, units) arrays for an LSTM, "
            f"got {type(initial_state).__name__}"
            + (f" of length {len(initial_state)}" if isinstance(initial_state, (list, tuple))
               else ""))
    return _rnn_forward(
        _LSTM, x, kernel, recurrent_kernel, bias, initial_state, activation=activation,
        recurrent_activation=recurrent_activation, reset_after=False,
        go_backwards=go_backwards, training=training, return_sequences=return_sequences,
        buffers=buffers, mask=mask, zero_output_for_mask=zero_output_for_mask,
        dropout_mask=dropout_mask, recurrent_dropout_mask=recurrent_dropout_mask)


def simple_rnn_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, *,
                       activation="tanh", go_backwards=False, training=True,
                       return_sequences=True, buffers=None, mask=None,
                       zero_output_for_mask=False, dropout_mask=None,
                       recurrent_dropout_mask=None):
    """Runs a fully-connected RNN over whole sequences: h = act(x W + b + h_prev U).

    Args:
        x: (B, T, I) input sequences.
        kernel: (I, H) input weights.
        recurrent_kernel: (H, H) recurrent weights.
        bias: (H,), or None for no bias.
        initial_state: (B, H), or None for zeros.
        activation: "tanh" (default), "relu", "sigmoid", "hard_sigmoid" or "linear".
    """ + _COMMON_ARGS_DOC + """
    Returns:
        An :class:`RNNOutput` (outputs, last_state, cache).
    """
    return _rnn_forward(
        _SIMPLE_RNN, x, kernel, recurrent_kernel, bias, None if initial_state is None else
        [initial_state], activation=activation, recurrent_activation="sigmoid",
        reset_after=False, go_backwards=go_backwards, training=training,
        return_sequences=return_sequences, buffers=buffers, mask=mask,
        zero_output_for_mask=zero_output_for_mask, dropout_mask=dropout_mask,
        recurrent_dropout_mask=recurrent_dropout_mask)


def _rnn_forward(cell, x, kernel, recurrent_kernel, bias, initial_states, *, activation,
                 recurrent_activation, reset_after, go_backwards, training, return_sequences,
                 buffers, mask, zero_output_for_mask, dropout_mask, recurrent_dropout_mask):
    options = {
        "cell": cell.code,
        "activation": activations.code(
            activations.get(activation, activations.RECURRENT, "activation")),
        "recurrent_activation": activations.code(
            activations.get(recurrent_activation, activations.RECURRENT,
                            "recurrent_activation")),
        "reset_after": reset_after,
        "go_backwards": _check_flag(go_backwards, "go_backwards"),
        "zero_output_for_mask": _check_flag(zero_output_for_mask, "zero_output_for_mask"),
    }
    training = _check_flag(training, "training")
    sizes = _rnn_sizes(x, recurrent_kernel)
    arrays = {
        "x": x,
        "kernel": kernel,
        "recurrent_kernel": recurrent_kernel,
        "mask": _as_mask(mask, sizes),
        "dropout_mask": _as_dropout_mask(dropout_mask, cell, sizes, "dropout_mask", 2),
        "recurrent_dropout_mask": _as_dropout_mask(recurrent_dropout_mask, cell, sizes,
                                                   "recurrent_dropout_mask", 3),
    }
    initial = _stack_states(initial_states, cell, _consistent_sizes(cell, sizes, kernel))
    workspace, cache_out = _reused_forward_memory(buffers, cell, sizes, arrays, training)
    # Positional, in the core's order (options' keys are in it too): matching keywords
    # cost a tenth of a single step.
    outputs, last, cache = _core.rnn_forward(
        x, kernel, recurrent_kernel, bias, initial, arrays["mask"], arrays["dropout_mask"],
        arrays["recurrent_dropout_mask"], *options.values(), training,
        _check_flag(return_sequences, "return_sequences"), workspace, cache_out)
    if cache is not None:
        options["use_bias"] = bias is not None
        cache = RNNCache(cache, cell, arrays, options,
                         buffers if workspace is not None else None)
    return RNNOutput(outputs, last[0], cache, last[1] if cell.states == 2 else None)


def _step_forward(cell, x, kernel, recurrent_kernel, bias, states, activation,
                  recurrent_activation, reset_after, buffers):
    """One inference step of a cell called from Python, without _rnn_forward's Python.

    x (B, I) and ``states``, the cell's list of (B, H) states, go to the core as they
    are, and the new states come back as one (S, B, H) array. At 256 units the general
    path's Python took a third of such a step. The core checks every argument and rejects
    all that _rnn_forward rejects, but in its own words (the states as one stacked array,
    for instance): a caller whose step raises ValueError or TypeError runs the general
    path instead, which names the problem as the API does. Returns None, having done
    nothing, for arguments that need the general path's conversions.
    """
    if type(x) is not np.ndarray or x.ndim != 2 or len(states) != cell.states or (
            activation not in activations.RECURRENT
            or recurrent_activation not in activations.RECURRENT):
        return None
    x = x[:, None, :]
    sizes = _rnn_sizes(x, recurrent_kernel)
    if sizes is None:
        return None
    initial = np.asarray(states[0])[None] if cell.states == 1 else np.stack(states)
    workspace = buffers._step_workspace(cell, sizes)
    # positional, in the core's order: go_backwards, zero_output_for_mask, training and
    # return_sequences are all False
    _, last, _ = _core.rnn_forward(
        x, kernel, recurrent_kernel, bias, initial, None, None, None, cell.code,
        activations.code(activation), activations.code(recurrent_activation), reset_after,
        False, False, False, False, workspace, None)
    return last


# What _buffer_sizes reads of a call without dropout.
_NO_DROPOUT = {"dropout_mask": None, "recurrent_dropout_mask": None}


def _shape(a):
    """np.shape(a), without its dispatch for the usual ndarray (a cell stepped from Python
    pays the per-call cost at every step)."""
    return a.shape if type(a) is np.ndarray else np.shape(a)


def _rnn_sizes(x, recurrent_kernel):
    """(B, T, I, H) when the shapes are plausible, else None (the core reports why)."""
    x_shape, u_shape = _shape(x), _shape(recurrent_kernel)
    if len(x_shape) != 3 or len(u_shape) != 2 or 0 in x_shape or 0 in u_shape:
        return None
    return (*x_shape, u_shape[0])


def _as_mask(mask, sizes):
    """A (B, T) mask as the uint8 bytes of a C-contiguous bool array, or None."""
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
            raise TypeError(
                f"mask must be booleans (or 0/1 values), got dtype {arr.dtype}")
        arr = arr.astype(np.bool_)
    if sizes is not None and arr.shape != sizes[:2]:
        raise ValueError(
            f"mask must have shape (batch, timesteps) = {sizes[:2]}, got shape {arr.shape}")
    return np.ascontiguousarray(arr).view(np.uint8)


def _as_dropout_mask(mask, cell, sizes, name, size_index):
    """(B, n) or (G, B, n) multipliers as a (G, B, n) float32 array, or None."""
    if mask is None:
        return None
    arr = np.asarray(mask, dtype=np.float32)
    if sizes is not None:
        shared = (sizes[0], sizes[size_index])
        if arr.shape == shared:
            return np.ascontiguousarray(np.broadcast_to(arr, (cell.gates, *shared)))
        if arr.shape != (cell.gates, *shared):
            raise ValueError(
                f"{name} must have shape {shared} (shared by every gate) or "
                f"{(cell.gates, *shared)} (one per gate), got shape {arr.shape}")
    return arr


def _consistent_sizes(cell, sizes, kernel):
    """(B, T, I, H) when x and both kernels agree on them, else None: state shapes are
    only worth checking against sizes the core will not reject first."""
    if sizes is None or _shape(kernel) != (sizes[2], cell.gates * sizes[3]):
        return None
    return sizes


def _stack_states(states, cell, sizes, names=("initial_state", "initial_state[1] (c0)")):
    """The per-state (B, H) arrays as one (S, B, H) array, or None when all are None.

    Checked here with the argument's own name: rank, emptiness and, when ``sizes`` is
    known, the (B, H) shape. A missing state of several is zeros.
    """
    if states is None:
        return None
    if len(states) == 1:  # the one state of a GRU or SimpleRNN, at every step of a cell
        if states[0] is None:
            return None
        arr = np.asarray(states[0])
        _check_state(names[0], arr, sizes)
        return arr[None]
    if all(s is None for s in states):
        return None
    if cell.states == 2 and names[0] == "initial_state":
        names = ("initial_state[0] (h0)", names[1])
        if any(s is None for s in states):
            raise ValueError("initial_state must hold both h0 and c0 for an LSTM, got None")
    arrays = [None if s is None else np.asarray(s) for s in states]
    for name, arr in zip(names, arrays):
        if arr is not None:
            _check_state(name, arr, sizes)
    shape = next(a.shape for a in arrays if a is not None)
    arrays = [np.zeros(shape, np.float32) if a is None else a for a in arrays]
    if any(a.shape != shape for a in arrays):
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (batch, units), got "
            f"{arrays[0].shape} and {arrays[1].shape}")
    return arrays[0][None] if len(arrays) == 1 else np.stack(arrays)


def _check_state(name, arr, sizes):
    """A (B, H) state: its rank, emptiness and, when ``sizes`` is known, its shape."""
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (batch, units), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if sizes is not None and (arr.shape[0] != sizes[0] or arr.shape[1] != sizes[3]):
        raise ValueError(
            f"{name} must have shape (batch, units) = {(sizes[0], sizes[3])}, got shape "
            f"{arr.shape}")


def _buffer_sizes(cell, sizes, arrays):
    return _core.rnn_buffer_sizes(cell.code, *sizes, arrays["dropout_mask"] is not None,
                                  arrays["recurrent_dropout_mask"] is not None)


def _reused_forward_memory(buffers, cell, sizes, arrays, training):
    """The workspace and (training) cache arrays a forward writes into, or None for the
    core to allocate."""
    if buffers is None:
        return None, None
    if not isinstance(buffers, RNNBuffers):
        raise TypeError(f"buffers must be an RNNBuffers or None, got {type(buffers).__name__}")
    if sizes is None:
        return None, None
    cache, train_ws, infer_ws, _ = buffers._buffer_sizes(cell, sizes, arrays)
    if not training:
        return buffers._take("forward", infer_ws), None
    buffers._generation += 1
    return buffers._take("forward", train_ws), buffers._take("cache", cache)


def rnn_backward(cache, d_outputs=None, d_last_state=None, d_last_carry=None, *,
                 d_kernel=None, d_recurrent_kernel=None, d_bias=None, check_finite=True,
                 input_gradient=True):
    """Backpropagation through time for a training-mode recurrent forward (any cell).

    Args:
        cache: the :class:`RNNCache` returned by the forward.
        d_outputs: (B, T, H) gradient of the loss w.r.t. ``outputs``, or None (zeros).
        d_last_state: (B, H) gradient w.r.t. ``last_state``, or None (zeros).
        d_last_carry: (B, H) gradient w.r.t. an LSTM's ``last_carry``, or None (zeros).
        d_kernel, d_recurrent_kernel, d_bias: optional float32 C-contiguous arrays of
            the parameters' shapes that the parameter gradients are ADDED into.
        check_finite: reject NaN or Inf in the upstream gradients (ValueError). False
            lets them through into NaN gradients, as a diverging model's training step
            needs (the layers pass False; the model then skips the update).
        input_gradient: compute the gradient w.r.t. ``x``. False gives ``x=None`` and
            saves a (B*T, G*H) x (G*H, I) product and a (B, T, I) array, for an input
            that is data (a model's first layer); the other gradients are unchanged.

    Returns:
        An :class:`RNNGradients`.
    """
    if not isinstance(cache, RNNCache):
        raise TypeError(
            "cache must be the RNNCache returned by a forward with training=True, got "
            f"{type(cache).__name__}")
    cell, arrays = cache._cell, cache._arrays
    if d_last_carry is not None and cell.states != 2:
        raise ValueError(f"d_last_carry is only for an LSTM, this cache is from a {cell.name}")
    _check_no_bias_accumulator(d_bias, cache._options["use_bias"])
    sizes = _rnn_sizes(arrays["x"], arrays["recurrent_kernel"])
    workspace = None
    if cache._buffers is not None:
        if cache._buffers._generation != cache._generation:
            raise RuntimeError(
                "this cache was overwritten by a later training forward with the same "
                "RNNBuffers; run rnn_backward before the next forward")
        workspace = cache._buffers._take("backward",
                                         cache._buffers._buffer_sizes(cell, sizes, arrays)[3])
    d_last = _stack_states((d_last_state, d_last_carry)[:cell.states], cell,
                           _consistent_sizes(cell, sizes, arrays["kernel"]),
                           ("d_last_state", "d_last_carry"))
    d_x, d_initial, *params = _core.rnn_backward(
        cache._data, arrays["x"], arrays["kernel"], arrays["recurrent_kernel"],
        arrays["mask"], arrays["dropout_mask"], arrays["recurrent_dropout_mask"], d_outputs,
        d_last, d_kernel, d_recurrent_kernel, d_bias, workspace=workspace,
        check_finite=_check_flag(check_finite, "check_finite"),
        input_gradient=_check_flag(input_gradient, "input_gradient"), **cache._options)
    return RNNGradients(d_x, d_initial[0], *params,
                        d_initial[1] if cell.states == 2 else None)


def gate_activations(cache):
    """The gate activations and states of a training-mode forward, step by step.

    For seeing what a recurrent layer remembers and forgets: the update and reset gates
    of a GRU, the input, forget and output gates of an LSTM.

    Args:
        cache: the :class:`RNNCache` of a forward with ``training=True``.

    Returns:
        A dict of (B, T, H) float32 arrays in processing order (like ``outputs``):
        GRU ``z``, ``r`` and ``h``; LSTM ``i``, ``f``, ``o``, ``c`` (the carry) and ``h``;
        SimpleRNN ``h``. ``h`` is the hidden state after each step. At steps that a mask
        skipped the gates were not applied and read NaN; the states hold their carried
        values.
    """
    if not isinstance(cache, RNNCache):
        raise TypeError(
            "cache must be the RNNCache returned by a forward with training=True, got "
            f"{type(cache).__name__}")
    B, T, _, H = _rnn_sizes(cache._arrays["x"], cache._arrays["recurrent_kernel"])
    cell, data = cache._cell, cache._data
    span = (T + 1) * B * H

    def over_time(flat, width):  # (T, B, width) time-major -> (B, T, width)
        return flat.reshape(T, B, width).transpose(1, 0, 2)

    result = {"h": over_time(data[B * H:span], H)}
    if cell is _LSTM:
        result["c"] = over_time(data[span + B * H:2 * span], H)
    widths = {_GRU.code: 4 * H, _LSTM.code: 5 * H}
    if cell.code in widths:
        start = cell.states * span  # the gates; what dropout keeps follows them
        gates = over_time(data[start:start + T * B * widths[cell.code]], widths[cell.code])
        blocks = {"z": 0, "r": 1} if cell is _GRU else {"i": 0, "f": 1, "o": 3}
        for name, block in blocks.items():
            result[name] = gates[:, :, block * H:(block + 1) * H]
    result = {name: np.ascontiguousarray(a) for name, a in result.items()}
    mask = cache._arrays["mask"]
    if mask is not None:
        skipped = ~mask.view(np.bool_)
        if cache._options["go_backwards"]:
            skipped = skipped[:, ::-1]
        for name in result.keys() - {"h", "c"}:
            result[name][skipped] = np.nan
    return result


def _check_no_bias_accumulator(d_bias, use_bias):
    if d_bias is not None and not use_bias:
        raise ValueError("d_bias was given, but the forward had no bias (use_bias=False)")


def _as_rows(x, name):
    """x (..., C) as a (N, C) view plus the leading shape, without converting dtype."""
    arr = np.asarray(x)
    if arr.ndim < 1:
        raise ValueError(f"{name} must have at least 1 dimension (..., features), got a scalar")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr.reshape(-1, arr.shape[-1]) if arr.ndim != 2 else arr, arr.shape[:-1]


def _check_rows_shape(name, shape, lead, units):
    """y and d_y must be (x's leading axes..., units): the same rows as x, not just the
    same number of rows."""
    expected = tuple(lead) + (units,)
    if tuple(shape) != expected:
        raise ValueError(
            f"{name} must have shape {expected} (the leading axes of x, then units), got "
            f"shape {tuple(shape)}")


def activation_forward(x, activation):
    """Applies an activation to x (..., C); softmax normalises over the last axis.

    Returns:
        y: an array of x's shape.
    """
    act = activations.code(activations.get(activation))
    rows, lead = _as_rows(x, "x")
    return _core.activation_forward(rows, activation=act).reshape(*lead, rows.shape[-1])


def activation_backward(y, d_y, activation):
    """Gradient through an activation, from its output y (..., C) and d_y (..., C)."""
    act = activations.code(activations.get(activation))
    y_rows, lead = _as_rows(y, "y")
    dy_rows, _ = _as_rows(d_y, "d_y")
    if np.shape(d_y) != np.shape(y):
        raise ValueError(f"d_y must have the shape of y {np.shape(y)}, got {np.shape(d_y)}")
    return _core.activation_backward(y_rows, dy_rows, activation=act).reshape(
        *lead, y_rows.shape[-1])


def dense_forward(x, kernel, bias=None, activation="linear"):
    """y = activation(x @ kernel + bias) over the last axis of x.

    Args:
        x: (..., I).
        kernel: (I, O).
        bias: (O,), or None.
        activation: "linear" (or None), "relu", "sigmoid", "tanh", "hard_sigmoid" or
            "softmax" (over the last axis).

    Returns:
        y: (..., O).
    """
    act = activations.code(activations.get(activation))
    rows, lead = _as_rows(x, "x")
    y = _core.dense_forward(rows, kernel, bias, activation=act)
    return y.reshape(*lead, y.shape[-1])


def dense_backward(x, kernel, y, d_y, *, activation="linear", use_bias=True, d_kernel=None,
                   d_bias=None):
    """Gradients of a :func:`dense_forward` call.

    Args:
        x: (..., I) the forward's input.
        kernel: (I, O) the forward's kernel.
        y: (..., O) the forward's output (activation derivatives are taken from it).
        d_y: (..., O) gradient of the loss w.r.t. y.
        activation: the forward's activation.
        use_bias: whether the forward had a bias.
        d_kernel, d_bias: optional float32 arrays the parameter gradients are ADDED into.

    Returns:
        A :class:`DenseGradients`.
    """
    act = activations.code(activations.get(activation))
    _check_no_bias_accumulator(d_bias, use_bias)
    rows, lead = _as_rows(x, "x")
    y_rows, _ = _as_rows(y, "y")
    dy_rows, _ = _as_rows(d_y, "d_y")
    units = np.shape(kernel)[-1] if np.ndim(kernel) == 2 else None
    _check_rows_shape("y", np.shape(y), lead, units)
    _check_rows_shape("d_y", np.shape(d_y), lead, units)
    d_x, d_kernel, d_bias = _core.dense_backward(
        rows, kernel, y_rows, dy_rows, d_kernel, d_bias, activation=act,
        use_bias=_check_flag(use_bias, "use_bias"))
    return DenseGradients(d_x.reshape(*lead, d_x.shape[-1]), d_kernel, d_bias)
