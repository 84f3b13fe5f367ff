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

Recurrent weights follow the Keras 3 layout, gate column blocks side by side:

* GRU: ``kernel`` ``(I, 3H)`` and ``recurrent_kernel`` ``(H, 3H)`` ordered
  ``[z | r | h]`` (update, reset, candidate);
* LSTM: ``(I, 4H)`` and ``(H, 4H)`` ordered ``[i | f | c | o]``, bias ``(4H,)``;
* SimpleRNN: ``(I, H)`` and ``(H, H)``, bias ``(H,)``.

The recurrent forwards also take Keras' per-step ``mask`` (see ``_scan``) and
dropout multipliers, one per gate or shared (see ``_gate_masks``), applied
as Keras' ``implementation=1`` cells apply them. Their gradients are central
differences (``rnn_numerical_gradients``); the GRU without masks also has a
hand-written backward (``gru_backward``).
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
# Recurrent layers: what GRU, LSTM and SimpleRNN share
# ---------------------------------------------------------------------------

#: Gate count of each cell kind, i.e. how many per-gate dropout masks it takes,
#: in Keras' column order: GRU [z | r | h], LSTM [i | f | c | o], SimpleRNN one.
GATES = {"gru": 3, "lstm": 4, "simple_rnn": 1}


def _time_index(k, steps, go_backwards):
    """Input column read at processing step ``k``."""
    return steps - 1 - k if go_backwards else k


def _gate_masks(mask, gates, shape, name):
    """One dropout multiplier per gate (Keras' ``implementation=1`` path).

    Args:
        mask: None, an array of ``shape`` shared by every gate, or
            ``(gates, *shape)`` with one mask per gate in column order.
        gates: Number of gates of the cell.
        shape: ``(B, I)`` for input masks, ``(B, H)`` for recurrent ones.
        name: Argument name, for the error message.

    Returns:
        A list of ``gates`` float64 arrays of ``shape``; ones when ``mask``
        is None, which leaves every product unchanged.

    Raises:
        ValueError: If ``mask`` has neither accepted shape.
    """
    if mask is None:
        return [np.ones(shape)] * gates
    mask = _f64(mask)
    if mask.shape == tuple(shape):
        return [mask] * gates
    if mask.shape == (gates, *shape):
        return list(mask)
    raise ValueError(f"{name} shape {mask.shape}, expected {tuple(shape)} "
                     f"or {(gates, *shape)}")


def _scan(step, x, states, *, go_backwards, mask, zero_output_for_mask):
    """Runs a cell over the time axis with Keras 3's masking rules.

    At a step whose mask entry is False every state is carried over
    unchanged and the output is the previous step's output (zeros before
    the first unmasked step of the row), or zeros when
    ``zero_output_for_mask``. With ``go_backwards`` the mask column read at
    processing step k is the input's, ``T - 1 - k``.

    Args:
        step: ``step(x_t, states) -> (new_states, record)``; ``states`` is a
            tuple of ``(B, H)`` arrays whose first entry is the output h,
            ``record`` a dict of ``(B, H)`` values of that step.
        x: Inputs, ``(B, T, I)``.
        states: Initial states, a tuple of ``(B, H)``.
        go_backwards: Read the inputs from the last timestep to the first.
        mask: ``(B, T)``, True where the step is used, or None.
        zero_output_for_mask: Output zeros at masked steps.

    Returns:
        ``(outputs, states, records)``: outputs ``(B, T, H)`` in processing
        order, the final states and one record per processing step, to
        which ``"h"`` (and ``"c"`` for a second state) is added: the states
        after the step, masking applied.
    """
    batch, steps, _ = x.shape
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (batch, steps):
            raise ValueError(f"mask shape {mask.shape}, expected {(batch, steps)}")
        mask = mask.astype(bool)
    outputs = np.zeros((batch, steps, states[0].shape[1]))
    previous = np.zeros_like(states[0])
    records = []
    for k in range(steps):
        t = _time_index(k, steps, go_backwards)
        new_states, record = step(x[:, t], states)
        if mask is None:
            states, output = new_states, new_states[0]
        else:
            keep = mask[:, t, None]
            states = tuple(np.where(keep, new, old)
                           for new, old in zip(new_states, states))
            output = np.where(keep, new_states[0],
                              0.0 if zero_output_for_mask else previous)
        # Keras stores outputs in processing order, also with go_backwards.
        outputs[:, k] = output
        previous = output
        record["h"] = states[0]
        if len(states) > 1:
            record["c"] = states[1]
        records.append(record)
    return outputs, states, records


def _prepare(x, kernel, recurrent_kernel, activations):
    """float64 x, kernel, recurrent kernel and (B, T, I, H); checks names."""
    for name in activations:
        _check_activation(name, elementwise=True)
    x = _f64(x)
    recurrent_kernel = _f64(recurrent_kernel)
    return x, _f64(kernel), recurrent_kernel, (*x.shape, recurrent_kernel.shape[0])


def _state_or_zeros(state, batch, units):
    return np.zeros((batch, units)) if state is None else _f64(state)


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


def _gru_step(x_t, h, kernel, recurrent_kernel, b, rb, *, activation_name,
              recurrent_activation_name, reset_after, masks=None,
              recurrent_masks=None):
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
        masks: Input dropout multipliers ``[m_z, m_r, m_h]``, each
            ``(B, I)``, or None.
        recurrent_masks: State dropout multipliers, each ``(B, H)``, or None.

    Returns:
        ``(h_new, cache)``: the new state ``(B, H)`` and a dict of the
        intermediate values of this step.
    """
    mz, mr, mh = masks if masks is not None else (1.0,) * 3
    rmz, rmr, rmh = (recurrent_masks if recurrent_masks is not None
                     else (1.0,) * 3)
    kz, kr, kh = np.split(kernel, 3, axis=1)
    wz, wr, wh = np.split(recurrent_kernel, 3, axis=1)
    bz, br, bh = np.split(b, 3)
    rbz, rbr, rbh = np.split(rb, 3)

    # Each gate sees its own dropped-out copy of the input and of the state.
    xh = (x_t * mh) @ kh + bh
    pre_z = (x_t * mz) @ kz + bz + (h * rmz) @ wz + rbz
    pre_r = (x_t * mr) @ kr + br + (h * rmr) @ wr + rbr
    z = _activate(recurrent_activation_name, pre_z)
    r = _activate(recurrent_activation_name, pre_r)

    if reset_after:
        # The reset gate scales the recurrent contribution (bias included).
        rec_h = (h * rmh) @ wh + rbh
        pre_hh = xh + r * rec_h
    else:
        # The reset gate scales the state before the recurrent matmul.
        rec_h = r * (h * rmh)
        pre_hh = xh + rec_h @ wh
    hh = _activate(activation_name, pre_hh)

    # The update mixes in the state itself, not a dropped-out copy.
    h_new = z * h + (1.0 - z) * hh
    cache = {
        "h_prev": h, "pre_z": pre_z, "pre_r": pre_r, "pre_hh": pre_hh,
        "z": z, "r": r, "hh": hh, "rec_h": rec_h,
    }
    return h_new, cache


def _gru_trace(x, kernel, recurrent_kernel, bias=None, initial_state=None, *,
               activation="tanh", recurrent_activation="sigmoid",
               reset_after=True, go_backwards=False, mask=None,
               zero_output_for_mask=False, dropout_mask=None,
               recurrent_dropout_mask=None):
    """Runs the GRU forward and keeps every step's intermediate values.

    Args: as for ``gru_forward``.

    Returns:
        ``(outputs, (last_state,), caches)`` with outputs ``(B, T, H)``,
        last_state ``(B, H)`` and ``caches`` a list of T dicts in
        processing order (see ``_gru_step``, plus "h" from ``_scan``).
    """
    x, kernel, recurrent_kernel, (batch, _, inputs, units) = _prepare(
        x, kernel, recurrent_kernel, (activation, recurrent_activation))
    b, rb = _split_bias(_f64(bias), units, reset_after)
    masks = _gate_masks(dropout_mask, 3, (batch, inputs), "dropout_mask")
    recurrent_masks = _gate_masks(recurrent_dropout_mask, 3, (batch, units),
                                  "recurrent_dropout_mask")

    def step(x_t, states):
        h, cache = _gru_step(
            x_t, states[0], kernel, recurrent_kernel, b, rb,
            activation_name=activation,
            recurrent_activation_name=recurrent_activation,
            reset_after=reset_after, masks=masks,
            recurrent_masks=recurrent_masks)
        return (h,), cache

    return _scan(step, x, (_state_or_zeros(initial_state, batch, units),),
                 go_backwards=go_backwards, mask=mask,
                 zero_output_for_mask=zero_output_for_mask)


def gru_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, *,
                activation="tanh", recurrent_activation="sigmoid",
                reset_after=True, go_backwards=False, mask=None,
                zero_output_for_mask=False, dropout_mask=None,
                recurrent_dropout_mask=None):
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
        mask: ``(B, T)`` bool, True where a step is used, or None (see
            ``_scan`` for what a masked step does).
        zero_output_for_mask: Output zeros at masked steps.
        dropout_mask: Input multipliers, ``(B, I)`` shared by the gates or
            ``(3, B, I)`` for ``[z, r, h]``, or None.
        recurrent_dropout_mask: State multipliers, ``(B, H)`` or
            ``(3, B, H)``, or None. They scale the state only where it
            enters a matmul; the update ``z * h_prev`` uses it undropped.

    Returns:
        ``(outputs, last_state)``: outputs ``(B, T, H)`` in processing order
        and the final state ``(B, H)``, both float64.
    """
    outputs, (last_state,), _ = _gru_trace(
        x, kernel, recurrent_kernel, bias, initial_state,
        activation=activation, recurrent_activation=recurrent_activation,
        reset_after=reset_after, go_backwards=go_backwards, mask=mask,
        zero_output_for_mask=zero_output_for_mask, dropout_mask=dropout_mask,
        recurrent_dropout_mask=recurrent_dropout_mask)
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
# LSTM
# ---------------------------------------------------------------------------


def _lstm_trace(x, kernel, recurrent_kernel, bias=None, initial_state=None, *,
                activation="tanh", recurrent_activation="sigmoid",
                go_backwards=False, mask=None, zero_output_for_mask=False,
                dropout_mask=None, recurrent_dropout_mask=None):
    """Runs the LSTM forward and keeps every step's gate values.

    Args: as for ``lstm_forward``.

    Returns:
        ``(outputs, (last_state, last_carry), records)``; each record holds
        the pre-activations "pre_i", "pre_f", "pre_c", "pre_o", the gates
        "i", "f", "g" (the candidate φ(pre_c)), "o", and "h", "c".
    """
    x, kernel, recurrent_kernel, (batch, _, inputs, units) = _prepare(
        x, kernel, recurrent_kernel, (activation, recurrent_activation))
    bias = np.zeros(4 * units) if bias is None else _f64(bias)
    if bias.shape != (4 * units,):
        raise ValueError(f"bias shape {bias.shape}, expected {(4 * units,)}")
    if initial_state is None:
        initial_state = (None, None)
    if len(initial_state) != 2:
        raise ValueError("initial_state must be a pair (h0, c0) or None")
    states = tuple(_state_or_zeros(s, batch, units) for s in initial_state)
    masks = _gate_masks(dropout_mask, 4, (batch, inputs), "dropout_mask")
    recurrent_masks = _gate_masks(recurrent_dropout_mask, 4, (batch, units),
                                  "recurrent_dropout_mask")
    blocks = list(zip(masks, recurrent_masks, np.split(kernel, 4, axis=1),
                      np.split(recurrent_kernel, 4, axis=1), np.split(bias, 4)))

    def step(x_t, states):
        h, c = states
        # Gates in Keras' column order i, f, c, o; each sees its own
        # dropped-out copies of the input and of the state.
        pre_i, pre_f, pre_c, pre_o = (
            (x_t * m) @ k + b + (h * rm) @ u for m, rm, k, u, b in blocks)
        i = _activate(recurrent_activation, pre_i)
        f = _activate(recurrent_activation, pre_f)
        g = _activate(activation, pre_c)
        o = _activate(recurrent_activation, pre_o)
        # The carry is updated from the undropped previous carry.
        c_new = f * c + i * g
        h_new = o * _activate(activation, c_new)
        record = {"pre_i": pre_i, "pre_f": pre_f, "pre_c": pre_c,
                  "pre_o": pre_o, "i": i, "f": f, "g": g, "o": o}
        return (h_new, c_new), record

    return _scan(step, x, states, go_backwards=go_backwards, mask=mask,
                 zero_output_for_mask=zero_output_for_mask)


def lstm_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, *,
                 activation="tanh", recurrent_activation="sigmoid",
                 go_backwards=False, mask=None, zero_output_for_mask=False,
                 dropout_mask=None, recurrent_dropout_mask=None):
    """Keras 3 LSTM forward pass::

        i = σ(x W_i + b_i + h U_i)      f = σ(x W_f + b_f + h U_f)
        c = f ⊙ c + i ⊙ φ(x W_c + b_c + h U_c)
        o = σ(x W_o + b_o + h U_o)      h = o ⊙ φ(c)

    Args:
        x: Inputs, ``(B, T, I)``.
        kernel: Input weights, ``(I, 4H)``, column blocks ``[i | f | c | o]``.
        recurrent_kernel: Recurrent weights, ``(H, 4H)``, same blocks.
        bias: ``(4H,)``, or None for no bias.
        initial_state: A pair ``(h0, c0)`` of ``(B, H)`` arrays (either may
            be None for zeros), or None for zeros.
        activation: φ, the name of the candidate and output activation.
        recurrent_activation: σ, the name of the gate activation.
        go_backwards: Read the inputs from the last timestep to the first.
        mask: ``(B, T)`` bool, True where a step is used, or None; h and c
            are both carried over masked steps.
        zero_output_for_mask: Output zeros at masked steps.
        dropout_mask: Input multipliers, ``(B, I)`` shared by the gates or
            ``(4, B, I)`` for ``[i, f, c, o]``, or None.
        recurrent_dropout_mask: State multipliers for the recurrent
            products, ``(B, H)`` or ``(4, B, H)``, or None.

    Returns:
        ``(outputs, last_state, last_carry)``: outputs ``(B, T, H)`` in
        processing order, the final h and c ``(B, H)``, all float64.
    """
    outputs, (last_state, last_carry), _ = _lstm_trace(
        x, kernel, recurrent_kernel, bias, initial_state,
        activation=activation, recurrent_activation=recurrent_activation,
        go_backwards=go_backwards, mask=mask,
        zero_output_for_mask=zero_output_for_mask, dropout_mask=dropout_mask,
        recurrent_dropout_mask=recurrent_dropout_mask)
    return outputs, last_state, last_carry


# ---------------------------------------------------------------------------
# SimpleRNN
# ---------------------------------------------------------------------------


def _simple_rnn_trace(x, kernel, recurrent_kernel, bias=None,
                      initial_state=None, *, activation="tanh",
                      go_backwards=False, mask=None, zero_output_for_mask=False,
                      dropout_mask=None, recurrent_dropout_mask=None):
    """Runs the SimpleRNN forward; records hold "pre_h" and "h".

    Args: as for ``simple_rnn_forward``.

    Returns:
        ``(outputs, (last_state,), records)``.
    """
    x, kernel, recurrent_kernel, (batch, _, inputs, units) = _prepare(
        x, kernel, recurrent_kernel, (activation,))
    bias = np.zeros(units) if bias is None else _f64(bias)
    if bias.shape != (units,):
        raise ValueError(f"bias shape {bias.shape}, expected {(units,)}")
    (m,) = _gate_masks(dropout_mask, 1, (batch, inputs), "dropout_mask")
    (rm,) = _gate_masks(recurrent_dropout_mask, 1, (batch, units),
                        "recurrent_dropout_mask")

    def step(x_t, states):
        pre_h = (x_t * m) @ kernel + bias + (states[0] * rm) @ recurrent_kernel
        return (_activate(activation, pre_h),), {"pre_h": pre_h}

    return _scan(step, x, (_state_or_zeros(initial_state, batch, units),),
                 go_backwards=go_backwards, mask=mask,
                 zero_output_for_mask=zero_output_for_mask)


def simple_rnn_forward(x, kernel, recurrent_kernel, bias=None,
                       initial_state=None, *, activation="tanh",
                       go_backwards=False, mask=None,
                       zero_output_for_mask=False, dropout_mask=None,
                       recurrent_dropout_mask=None):
    """Keras 3 SimpleRNN forward pass, ``h = φ(x K + b + h_prev U)``.

    Args:
        x: Inputs, ``(B, T, I)``.
        kernel: ``(I, H)``.
        recurrent_kernel: ``(H, H)``.
        bias: ``(H,)``, or None for no bias.
        initial_state: ``(B, H)``, or None for zeros.
        activation: Name of φ.
        go_backwards, mask, zero_output_for_mask: As for ``gru_forward``.
        dropout_mask: ``(B, I)`` or ``(1, B, I)`` input multipliers, or None.
        recurrent_dropout_mask: ``(B, H)`` or ``(1, B, H)``, or None.

    Returns:
        ``(outputs, last_state)``: ``(B, T, H)`` in processing order and
        ``(B, H)``, float64.
    """
    outputs, (last_state,), _ = _simple_rnn_trace(
        x, kernel, recurrent_kernel, bias, initial_state,
        activation=activation, go_backwards=go_backwards, mask=mask,
        zero_output_for_mask=zero_output_for_mask, dropout_mask=dropout_mask,
        recurrent_dropout_mask=recurrent_dropout_mask)
    return outputs, last_state


# ---------------------------------------------------------------------------
# All three kinds through one interface
# ---------------------------------------------------------------------------

_TRACES = {"gru": _gru_trace, "lstm": _lstm_trace,
           "simple_rnn": _simple_rnn_trace}


def rnn_trace(cell, x, kernel, recurrent_kernel, bias=None, initial_state=None,
              **options):
    """Forward of any cell kind, with every step's values.

    Args:
        cell: "gru", "lstm" or "simple_rnn".
        x, kernel, recurrent_kernel, bias, initial_state: As for that kind's
            ``*_forward`` (for "lstm" ``initial_state`` is a pair or None).
        **options: That kind's keyword arguments.

    Returns:
        Dict of float64 arrays: "outputs" ``(B, T, H)``, "last_state"
        ``(B, H)``, for "lstm" also "last_carry" ``(B, H)``, and each value
        a step records, stacked to ``(B, T, H)`` in processing order: "h"
        (and for LSTM "c"), the states after the step; GRU "pre_z", "pre_r",
        "pre_hh", "z", "r", "hh"; LSTM "pre_i", "pre_f", "pre_c", "pre_o",
        "i", "f", "g", "o"; SimpleRNN "pre_h".
    """
    outputs, states, records = _TRACES[cell](
        x, kernel, recurrent_kernel, bias, initial_state, **options)
    trace = {"outputs": outputs, "last_state": states[0]}
    if cell == "lstm":
        trace["last_carry"] = states[1]
    for key in records[0]:
        trace.setdefault(key, np.stack([r[key] for r in records], axis=1))
    return trace


def rnn_numerical_gradients(cell, x, kernel, recurrent_kernel, bias,
                            initial_state, d_outputs=None, d_last_state=None,
                            d_last_carry=None, eps=1e-6, **options):
    """Central-difference gradients of any cell kind's forward.

    The gradients are those of the scalar ``L = sum(outputs * d_outputs) +
    sum(last_state * d_last_state) (+ sum(last_carry * d_last_carry))``.
    A missing initial state is differentiated as the zero state. Keep the
    sizes small: this costs two forwards per input entry.

    Args:
        cell: "gru", "lstm" or "simple_rnn".
        x, kernel, recurrent_kernel, bias, initial_state: As for
            ``rnn_trace`` (``bias`` and ``initial_state`` may be None).
        d_outputs: ``(B, T, H)`` or None for zeros.
        d_last_state: ``(B, H)`` or None for zeros.
        d_last_carry: ``(B, H)`` or None for zeros (LSTM only).
        eps: Central-difference step.
        **options: That kind's keyword arguments (masks included).

    Returns:
        Dict of float64 arrays: "x", "kernel", "recurrent_kernel", "bias"
        (None when ``bias`` is None), "initial_state" and, for "lstm",
        "initial_carry".
    """
    params = {"x": _f64(x).copy(), "kernel": _f64(kernel).copy(),
              "recurrent_kernel": _f64(recurrent_kernel).copy()}
    if bias is not None:
        params["bias"] = _f64(bias).copy()
    batch, units = params["x"].shape[0], params["recurrent_kernel"].shape[0]
    if cell == "lstm":
        state_names = ("initial_state", "initial_carry")
        given = (None, None) if initial_state is None else initial_state
    else:
        state_names, given = ("initial_state",), (initial_state,)
    for name, state in zip(state_names, given):
        params[name] = _state_or_zeros(state, batch, units).copy()
    upstream = [(0, d_outputs), (1, d_last_state), (2, d_last_carry)]
    upstream = [(i, _f64(d)) for i, d in upstream if d is not None]

    def loss():
        state = tuple(params[n] for n in state_names)
        outputs, states, _ = _TRACES[cell](
            params["x"], params["kernel"], params["recurrent_kernel"],
            params.get("bias"), state if cell == "lstm" else state[0],
            **options)
        results = (outputs, *states)
        return sum(np.sum(results[i] * d) for i, d in upstream)

    grads = {name: numerical_gradient(loss, array, eps)
             for name, array in params.items()}
    grads.setdefault("bias", None)
    return grads


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
