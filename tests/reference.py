"""Independent float64 NumPy reference for every op of the gru_py core.

This module is the "slow" oracle that the test suite compares the C core
against. It is written directly from the formulas (Keras 3 semantics), is
deliberately simple rather than fast, computes everything in float64 and
shares no code with ``gru_py``, so that a bug in the library cannot hide by
being repeated here.

Dimension letters used in the shapes below:

* ``B``: batch size
* ``T``: timesteps
* ``I``: input features
* ``H``: units (hidden state size)
* ``N``: rows (any number of leading entries, flattened)
* ``O``: output units of a Dense layer

GRU weights follow the Keras 3 layout: ``kernel`` is ``(I, 3H)`` and
``recurrent_kernel`` is ``(H, 3H)``, with gate column blocks ordered
``[z | r | h]`` (update, reset, candidate).
"""

import numpy as np

_ELEMENTWISE = ("linear", "sigmoid", "tanh", "hard_sigmoid", "relu")


def _f64(a):
    """Returns ``a`` as a float64 array (``None`` stays ``None``)."""
    return None if a is None else np.asarray(a, dtype=np.float64)


def _sigmoid(x):
    # exp(-|x|) never overflows, so both branches are finite for any x.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(x):
    # Subtracting the row maximum leaves the result unchanged and keeps exp
    # from overflowing.
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def activation(name, x):
    """Applies the activation called ``name``.

    Args:
        name: One of "linear", "sigmoid", "tanh", "hard_sigmoid", "relu",
            "softmax". "hard_sigmoid" is the Keras 3 one,
            ``clip(x / 6 + 0.5, 0, 1)``; "softmax" acts on the last axis.
        x: Pre-activation, any shape ``(...)``.

    Returns:
        Float64 array of shape ``(...)``.

    Raises:
        ValueError: If ``name`` is unknown.
    """
    return _activate(name, x)


def _activate(name, x):
    """Implements ``activation``.

    It has its own name because several functions below take a keyword
    argument called ``activation`` that would shadow the public function.
    """
    x = _f64(x)
    if name == "linear":
        return x.copy()
    if name == "sigmoid":
        return _sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "hard_sigmoid":
        return np.clip(x / 6.0 + 0.5, 0.0, 1.0)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "softmax":
        return _softmax(x)
    raise ValueError(f"unknown activation: {name!r}")


def activation_derivative(name, x):
    """Derivative of an elementwise activation, from its pre-activation.

    At the kinks of "relu" (0) and "hard_sigmoid" (-3 and 3) the derivative
    is taken as 0, i.e. only strictly inside the linear part counts.

    Args:
        name: One of "linear", "sigmoid", "tanh", "hard_sigmoid", "relu".
        x: Pre-activation, any shape ``(...)``.

    Returns:
        Float64 array of shape ``(...)`` with d activation(x) / dx.

    Raises:
        ValueError: If ``name`` is unknown or not elementwise ("softmax").
    """
    x = _f64(x)
    if name == "linear":
        return np.ones_like(x)
    if name == "sigmoid":
        s = _sigmoid(x)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if name == "hard_sigmoid":
        return np.where((x > -3.0) & (x < 3.0), 1.0 / 6.0, 0.0)
    if name == "relu":
        return np.where(x > 0.0, 1.0, 0.0)
    raise ValueError(f"no elementwise derivative for activation: {name!r}")


def _check_activation(name, elementwise=False):
    """Raises ValueError early for a bad name (before any work is done)."""
    known = _ELEMENTWISE if elementwise else _ELEMENTWISE + ("softmax",)
    if name not in known:
        raise ValueError(f"unknown activation: {name!r}")


# ---------------------------------------------------------------------------
# GRU
# ---------------------------------------------------------------------------


def _split_bias(bias, units, reset_after):
    """Splits the Keras bias into an input bias and a recurrent bias.

    Args:
        bias: ``(2, 3H)`` when ``reset_after``, ``(3H,)`` otherwise, or None.
        units: H.
        reset_after: Which Keras bias layout ``bias`` has.

    Returns:
        ``(b, rb)``, each ``(3H,)``; zeros stand in for absent terms, which
        is the same as having no bias at all.
    """
    zeros = np.zeros(3 * units)
    if bias is None:
        return zeros, zeros
    expected = (2, 3 * units) if reset_after else (3 * units,)
    if bias.shape != expected:
        raise ValueError(f"bias shape {bias.shape}, expected {expected}")
    if reset_after:
        return bias[0], bias[1]
    # Without reset_after Keras has a single bias, added to the input side.
    return bias, zeros


def _time_index(k, steps, go_backwards):
    """Input column read at processing step ``k``."""
    return steps - 1 - k if go_backwards else k


def _gru_step(x_t, h, kernel, recurrent_kernel, b, rb, *, activation_name,
              recurrent_activation_name, reset_after):
    """One GRU step; also returns what the backward pass needs.

    Args:
        x_t: Input at this step, ``(B, I)``.
        h: Previous state, ``(B, H)``.
        kernel: ``(I, 3H)``.
        recurrent_kernel: ``(H, 3H)``.
        b: Input bias ``(3H,)``.
        rb: Recurrent bias ``(3H,)`` (zeros unless ``reset_after``).
        activation_name: Candidate activation.
        recurrent_activation_name: Gate activation.
        reset_after: Apply the reset gate after the recurrent matmul.

    Returns:
        ``(h_new, cache)``: the new state ``(B, H)`` and a dict of the
        intermediate values of this step.
    """
    x_gates = x_t @ kernel + b
    xz, xr, xh = np.split(x_gates, 3, axis=1)
    wz, wr, wh = np.split(recurrent_kernel, 3, axis=1)
    rbz, rbr, rbh = np.split(rb, 3)

    pre_z = xz + h @ wz + rbz
    pre_r = xr + h @ wr + rbr
    z = _activate(recurrent_activation_name, pre_z)
    r = _activate(recurrent_activation_name, pre_r)

    if reset_after:
        # The reset gate scales the recurrent contribution (bias included).
        rec_h = h @ wh + rbh
        pre_hh = xh + r * rec_h
    else:
        # The reset gate scales the state before the recurrent matmul.
        rec_h = r * h
        pre_hh = xh + rec_h @ wh
    hh = _activate(activation_name, pre_hh)

    h_new = z * h + (1.0 - z) * hh
    cache = {
        "h_prev": h, "pre_z": pre_z, "pre_r": pre_r, "pre_hh": pre_hh,
        "z": z, "r": r, "hh": hh, "rec_h": rec_h,
    }
    return h_new, cache


def _gru_trace(x, kernel, recurrent_kernel, bias, initial_state, *,
               activation, recurrent_activation, reset_after, go_backwards):
    """Runs the GRU forward and keeps every step's intermediate values.

    Args: as for ``gru_forward``.

    Returns:
        ``(outputs, last_state, caches)`` with outputs ``(B, T, H)``,
        last_state ``(B, H)`` and ``caches`` a list of T dicts in
        processing order (see ``_gru_step``).
    """
    _check_activation(activation, elementwise=True)
    _check_activation(recurrent_activation, elementwise=True)
    x = _f64(x)
    kernel = _f64(kernel)
    recurrent_kernel = _f64(recurrent_kernel)
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    b, rb = _split_bias(_f64(bias), units, reset_after)
    h = (np.zeros((batch, units)) if initial_state is None
         else _f64(initial_state))

    outputs = np.zeros((batch, steps, units))
    caches = []
    for k in range(steps):
        t = _time_index(k, steps, go_backwards)
        h, cache = _gru_step(
            x[:, t], h, kernel, recurrent_kernel, b, rb,
            activation_name=activation,
            recurrent_activation_name=recurrent_activation,
            reset_after=reset_after)
        # Keras stores outputs in processing order, also with go_backwards.
        outputs[:, k] = h
        caches.append(cache)
    return outputs, h, caches


def gru_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, *,
                activation="tanh", recurrent_activation="sigmoid",
                reset_after=True, go_backwards=False):
    """Keras 3 GRU forward pass.

    Args:
        x: Inputs, ``(B, T, I)``.
        kernel: Input weights, ``(I, 3H)``, blocks ``[z | r | h]``.
        recurrent_kernel: Recurrent weights, ``(H, 3H)``, same blocks.
        bias: ``(2, 3H)`` (row 0 input bias, row 1 recurrent bias) when
            ``reset_after``, ``(3H,)`` otherwise, or None for no bias.
        initial_state: ``(B, H)``, or None for zeros.
        activation: Name of the candidate activation.
        recurrent_activation: Name of the gate activation.
        reset_after: Apply the reset gate after the recurrent matmul.
        go_backwards: Read the inputs from the last timestep to the first.

    Returns:
        ``(outputs, last_state)``: outputs ``(B, T, H)`` in processing order
        and the final state ``(B, H)``, both float64.
    """
    outputs, last_state, _ = _gru_trace(
        x, kernel, recurrent_kernel, bias, initial_state,
        activation=activation, recurrent_activation=recurrent_activation,
        reset_after=reset_after, go_backwards=go_backwards)
    return outputs, last_state


def gru_backward(x, kernel, recurrent_kernel, bias, initial_state, d_outputs,
                 d_last_state, *, activation="tanh",
                 recurrent_activation="sigmoid", reset_after=True,
                 go_backwards=False):
    """Gradients of a Keras 3 GRU by hand-written backpropagation through time.

    The gradients are those of the scalar
    ``L = sum(outputs * d_outputs) + sum(last_state * d_last_state)``.

    Args:
        x, kernel, recurrent_kernel, bias, initial_state: As for
            ``gru_forward`` (bias and initial_state may be None).
        d_outputs: ``(B, T, H)`` in processing order, or None for zeros.
        d_last_state: ``(B, H)``, or None for zeros.
        activation, recurrent_activation, reset_after, go_backwards: As for
            ``gru_forward``.

    Returns:
        Dict of float64 arrays: "x" ``(B, T, I)``, "initial_state"
        ``(B, H)``, "kernel" ``(I, 3H)``, "recurrent_kernel" ``(H, 3H)`` and
        "bias" with the shape of ``bias`` (None when ``bias`` is None).
    """
    x = _f64(x)
    kernel = _f64(kernel)
    recurrent_kernel = _f64(recurrent_kernel)
    _, _, caches = _gru_trace(
        x, kernel, recurrent_kernel, bias, initial_state,
        activation=activation, recurrent_activation=recurrent_activation,
        reset_after=reset_after, go_backwards=go_backwards)
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    d_outputs = (np.zeros((batch, steps, units)) if d_outputs is None
                 else _f64(d_outputs))
    dh = (np.zeros((batch, units)) if d_last_state is None
          else _f64(d_last_state).copy())

    wz, wr, wh = np.split(recurrent_kernel, 3, axis=1)
    dx = np.zeros_like(x)
    d_kernel = np.zeros_like(kernel)
    d_recurrent = np.zeros_like(recurrent_kernel)
    d_b = np.zeros(3 * units)
    d_rb = np.zeros(3 * units)

    for k in reversed(range(steps)):
        c = caches[k]
        h_prev = c["h_prev"]
        # The state after step k feeds both outputs[:, k] and step k + 1.
        dh = dh + d_outputs[:, k]

        # h = z * h_prev + (1 - z) * hh
        dz = dh * (h_prev - c["hh"])
        d_pre_hh = dh * (1.0 - c["z"]) * activation_derivative(
            activation, c["pre_hh"])
        dh_prev = dh * c["z"]

        if reset_after:
            # pre_hh = xh + r * rec_h,  rec_h = h_prev @ wh + rbh
            dr = d_pre_hh * c["rec_h"]
            d_rec_h = d_pre_hh * c["r"]
            dh_prev += d_rec_h @ wh.T
            d_wh = h_prev.T @ d_rec_h
        else:
            # pre_hh = xh + rec_h @ wh,  rec_h = r * h_prev
            d_rec_h = d_pre_hh @ wh.T
            dr = d_rec_h * h_prev
            dh_prev += d_rec_h * c["r"]
            d_wh = c["rec_h"].T @ d_pre_hh

        d_pre_z = dz * activation_derivative(recurrent_activation, c["pre_z"])
        d_pre_r = dr * activation_derivative(recurrent_activation, c["pre_r"])
        dh_prev += d_pre_z @ wz.T + d_pre_r @ wr.T
        d_recurrent += np.concatenate(
            [h_prev.T @ d_pre_z, h_prev.T @ d_pre_r, d_wh], axis=1)

        # The input side enters all three pre-activations additively.
        d_x_gates = np.concatenate([d_pre_z, d_pre_r, d_pre_hh], axis=1)
        t = _time_index(k, steps, go_backwards)
        dx[:, t] += d_x_gates @ kernel.T
        d_kernel += x[:, t].T @ d_x_gates
        d_b += d_x_gates.sum(axis=0)
        if reset_after:
            d_rb += np.concatenate(
                [d_pre_z, d_pre_r, d_rec_h], axis=1).sum(axis=0)

        dh = dh_prev

    if bias is None:
        d_bias = None
    elif reset_after:
        d_bias = np.stack([d_b, d_rb])
    else:
        d_bias = d_b
    return {
        "x": dx,
        "initial_state": dh,
        "kernel": d_kernel,
        "recurrent_kernel": d_recurrent,
        "bias": d_bias,
    }


# ---------------------------------------------------------------------------
# Dense
# ---------------------------------------------------------------------------


def dense_forward(x, kernel, bias=None, activation="linear"):
    """Dense layer ``activation(x @ kernel + bias)``.

    Args:
        x: Inputs, ``(..., I)``.
        kernel: ``(I, O)``.
        bias: ``(O,)``, or None for no bias.
        activation: Activation name; "softmax" acts on the last axis.

    Returns:
        Float64 array ``(..., O)``.
    """
    _check_activation(activation)
    pre = _f64(x) @ _f64(kernel)
    if bias is not None:
        pre = pre + _f64(bias)
    return _activate(activation, pre)


def dense_backward(x, kernel, bias, d_y, activation="linear"):
    """Gradients of ``sum(dense_forward(x, kernel, bias, activation) * d_y)``.

    Args:
        x: Inputs, ``(..., I)``.
        kernel: ``(I, O)``.
        bias: ``(O,)``, or None.
        d_y: Upstream gradient, ``(..., O)``.
        activation: Activation name, as for ``dense_forward``.

    Returns:
        Dict of float64 arrays: "x" ``(..., I)``, "kernel" ``(I, O)``, "bias"
        ``(O,)`` (None when ``bias`` is None).
    """
    _check_activation(activation)
    x = _f64(x)
    kernel = _f64(kernel)
    d_y = _f64(d_y)
    pre = x @ kernel
    if bias is not None:
        pre = pre + _f64(bias)

    if activation == "softmax":
        # Softmax is not elementwise: use its Jacobian-vector product.
        y = _softmax(pre)
        d_pre = y * (d_y - np.sum(d_y * y, axis=-1, keepdims=True))
    else:
        d_pre = d_y * activation_derivative(activation, pre)

    # Leading axes all act as independent rows: flatten them to (N, .).
    x_rows = x.reshape(-1, x.shape[-1])
    d_pre_rows = d_pre.reshape(-1, d_pre.shape[-1])
    return {
        "x": d_pre @ kernel.T,
        "kernel": x_rows.T @ d_pre_rows,
        "bias": None if bias is None else d_pre_rows.sum(axis=0),
    }


# ---------------------------------------------------------------------------
# Numerical gradient
# ---------------------------------------------------------------------------


def numerical_gradient(f, array, eps=1e-6):
    """Central-difference gradient of a scalar function.

    Each entry of ``array`` is nudged by ``+eps`` and ``-eps`` in place (and
    restored afterwards), so ``f`` must read ``array`` itself, not a copy.

    Args:
        f: Callable with no arguments returning a scalar.
        array: Writable float array that ``f`` depends on, any shape.
        eps: Step size.

    Returns:
        Float64 array of ``array``'s shape with ``(f(a + eps) - f(a - eps))
        / (2 eps)`` per entry.
    """
    grad = np.zeros(array.shape)
    # One pair of evaluations per entry is what a finite difference is, so
    # a loop over entries is unavoidable here.
    for index in np.ndindex(array.shape):
        saved = array[index]
        try:
            array[index] = saved + eps
            f_plus = float(f())
            array[index] = saved - eps
            f_minus = float(f())
        finally:
            array[index] = saved
        grad[index] = (f_plus - f_minus) / (2.0 * eps)
    return grad
