"""The low-level functional API: the C core's operations on plain NumPy arrays.

Use these for hand-written training loops; the layers in :mod:`gru_py.layers` are built
on them. Every function computes in float32 (Keras' default): inputs of other real
dtypes are converted, anything else raises TypeError; wrong shapes, empty arrays and
NaN or Inf raise ValueError naming the argument.

Dimension letters: B batch, T timesteps, I input features, H units, O output units.
Weights use the Keras 3 layout; GRU gate columns are ordered [z | r | h].

Gradient contract: the backward functions return fresh parameter gradients, or, when
you pass accumulator arrays (``d_kernel=...``), add into them in place and return them.
Input and state gradients are always new arrays.

Example, one GRU training step by hand::

    out = ops.gru_forward(x, kernel, recurrent_kernel, bias)
    loss = ((out.last_state - target) ** 2).sum()
    grads = ops.gru_backward(out.cache, d_last_state=2 * (out.last_state - target))
    kernel -= 0.01 * grads.kernel
"""

from typing import NamedTuple, Optional

import numpy as np

from gru_py import activations
from gru_py._native import _core


class GRUBuffers:
    """Memory that :func:`gru_forward` and :func:`gru_backward` reuse from call to call.

    Without it every call allocates its scratch memory and cache afresh, and the operating
    system must map and zero those megabytes again each time. A layer keeps one of these;
    so can a hand-written loop. The arrays grow to the largest call seen and are reused.

    A cache made with buffers is valid until the next training forward with the same
    buffers, which overwrites it; :func:`gru_backward` raises if it is handed a cache that
    was overwritten.
    """

    def __init__(self):
        self._arrays = {}
        self._generation = 0

    def _take(self, name, size):
        array = self._arrays.get(name)
        if array is None or array.size < size:
            array = self._arrays[name] = np.empty(size, dtype=np.float32)
        return array[:size]


class GRUCache:
    """What a training-mode :func:`gru_forward` keeps for :func:`gru_backward`.

    Opaque. It references the forward's inputs and weights, which must not be modified
    until the backward has run.
    """

    __slots__ = ("_data", "_x", "_kernel", "_recurrent_kernel", "_options", "_buffers",
                 "_generation")

    def __init__(self, data, x, kernel, recurrent_kernel, options, buffers=None):
        self._data = data
        self._x = x
        self._kernel = kernel
        self._recurrent_kernel = recurrent_kernel
        self._options = options
        self._buffers = buffers
        self._generation = buffers._generation if buffers is not None else None

    @property
    def nbytes(self):
        """Bytes held by the cached activations."""
        return self._data.nbytes


class GRUOutput(NamedTuple):
    """Result of :func:`gru_forward`.

    Attributes:
        outputs: (B, T, H) every state in processing order, or None when
            ``return_sequences=False``.
        last_state: (B, H) the state after the last step.
        cache: a :class:`GRUCache` when ``training=True``, else None.
    """

    outputs: Optional[np.ndarray]
    last_state: np.ndarray
    cache: Optional[GRUCache]


class GRUGradients(NamedTuple):
    """Gradients from :func:`gru_backward`, named after what they differentiate.

    Attributes:
        x: (B, T, I).
        initial_state: (B, H).
        kernel: (I, 3H).
        recurrent_kernel: (H, 3H).
        bias: (2, 3H) or (3H,), or None for a forward without bias.
    """

    x: np.ndarray
    initial_state: np.ndarray
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: Optional[np.ndarray]


class DenseGradients(NamedTuple):
    """Gradients from :func:`dense_backward`: x (..., I), kernel (I, O), bias (O,) or None."""

    x: np.ndarray
    kernel: np.ndarray
    bias: Optional[np.ndarray]


def _check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def gru_forward(
    x,
    kernel,
    recurrent_kernel,
    bias=None,
    initial_state=None,
    *,
    activation="tanh",
    recurrent_activation="sigmoid",
    reset_after=True,
    go_backwards=False,
    training=True,
    return_sequences=True,
    buffers=None,
):
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
        go_backwards: process time in reverse; outputs stay in processing order.
        training: keep what :func:`gru_backward` needs (returned as ``cache``).
        return_sequences: return every state, not only the last one.
        buffers: a :class:`GRUBuffers` to reuse memory across calls, or None.

    Returns:
        A :class:`GRUOutput` (outputs, last_state, cache).
    """
    options = {
        "activation": activations.code(
            activations.get(activation, activations.RECURRENT, "activation")),
        "recurrent_activation": activations.code(
            activations.get(recurrent_activation, activations.RECURRENT,
                            "recurrent_activation")),
        "reset_after": _check_flag(reset_after, "reset_after"),
        "go_backwards": _check_flag(go_backwards, "go_backwards"),
    }
    training = _check_flag(training, "training")
    reuse = _reused_forward_memory(buffers, x, recurrent_kernel, training)
    outputs, last_state, cache = _core.gru_forward(
        x, kernel, recurrent_kernel, bias, initial_state, training=training,
        return_sequences=_check_flag(return_sequences, "return_sequences"), **reuse, **options)
    if cache is not None:
        options["use_bias"] = bias is not None
        cache = GRUCache(cache, x, kernel, recurrent_kernel, options,
                         buffers if reuse else None)
    return GRUOutput(outputs, last_state, cache)


def _gru_sizes(x, recurrent_kernel):
    """(B, T, I, H) when the shapes are plausible, else None (the core reports why)."""
    x_shape, u_shape = np.shape(x), np.shape(recurrent_kernel)
    if len(x_shape) != 3 or len(u_shape) != 2 or 0 in x_shape or 0 in u_shape:
        return None
    return (*x_shape, u_shape[0])


def _reused_forward_memory(buffers, x, recurrent_kernel, training):
    """The workspace (and, training, the cache) arrays a forward writes into."""
    if buffers is None:
        return {}
    if not isinstance(buffers, GRUBuffers):
        raise TypeError(f"buffers must be a GRUBuffers or None, got {type(buffers).__name__}")
    sizes = _gru_sizes(x, recurrent_kernel)
    if sizes is None:
        return {}
    cache, train_ws, infer_ws, _ = _core.gru_buffer_sizes(*sizes)
    if not training:
        return {"workspace": buffers._take("forward", infer_ws)}
    buffers._generation += 1
    return {"workspace": buffers._take("forward", train_ws),
            "cache_out": buffers._take("cache", cache)}


def gru_backward(cache, d_outputs=None, d_last_state=None, *, d_kernel=None,
                 d_recurrent_kernel=None, d_bias=None):
    """Backpropagation through time for a training-mode :func:`gru_forward`.

    Args:
        cache: the :class:`GRUCache` returned by the forward.
        d_outputs: (B, T, H) gradient of the loss w.r.t. ``outputs``, or None (zeros).
        d_last_state: (B, H) gradient w.r.t. ``last_state``, or None (zeros).
        d_kernel, d_recurrent_kernel, d_bias: optional float32 C-contiguous arrays of
            the parameters' shapes that the parameter gradients are ADDED into.

    Returns:
        A :class:`GRUGradients`.
    """
    if not isinstance(cache, GRUCache):
        raise TypeError(
            "cache must be the GRUCache returned by gru_forward(..., training=True), got "
            f"{type(cache).__name__}")
    _check_no_bias_accumulator(d_bias, cache._options["use_bias"])
    workspace = None
    if cache._buffers is not None:
        if cache._buffers._generation != cache._generation:
            raise RuntimeError(
                "this cache was overwritten by a later training gru_forward with the same "
                "GRUBuffers; run gru_backward before the next forward")
        sizes = _gru_sizes(cache._x, cache._recurrent_kernel)
        workspace = cache._buffers._take("backward", _core.gru_buffer_sizes(*sizes)[3])
    grads = _core.gru_backward(
        cache._data, cache._x, cache._kernel, cache._recurrent_kernel, d_outputs,
        d_last_state, d_kernel, d_recurrent_kernel, d_bias, workspace=workspace,
        **cache._options)
    return GRUGradients(*grads)


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
