"""Hygiene of the NumPy binding behind gru_py.ops (gru_forward, gru_backward,
dense_forward, dense_backward): precise errors for bad input, inputs never mutated,
stable reference counts, no leaks, no allocation inside the time loop, thread safety
and a released GIL.

Dimension letters: B batch, T timesteps, I input features, H units, O output units.
"""

import gc
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import numpy as np
import pytest

from gru_py import ops
from gru_py._native import _core

B, T, I, H, O = 2, 3, 4, 5, 6
N = B * T  # rows of the 2-D Dense inputs
H3 = 3 * H
FLOAT32_BYTES = 4


# ---------------------------------------------------------------------------------- #
# Valid inputs and calls with some arguments replaced                                  #
# ---------------------------------------------------------------------------------- #


def _normal(rng, *shape):
    return (0.5 * rng.standard_normal(shape)).astype(np.float32)


def _gru_arrays(seed=0, *, b=B, t=T, i=I, h=H, reset_after=True):
    """Valid positional inputs of gru_forward, in their order."""
    rng = np.random.default_rng(seed)
    return {
        "x": _normal(rng, b, t, i),
        "kernel": _normal(rng, i, 3 * h),
        "recurrent_kernel": _normal(rng, h, 3 * h),
        "bias": _normal(rng, 2, 3 * h) if reset_after else _normal(rng, 3 * h),
        "initial_state": _normal(rng, b, h),
    }


def _gru_upstream(seed=1, *, b=B, t=T, h=H):
    """Valid d_outputs and d_last_state for gru_backward."""
    rng = np.random.default_rng(seed)
    return {"d_outputs": _normal(rng, b, t, h), "d_last_state": _normal(rng, b, h)}


def _dense_arrays(seed=2, lead=(N,)):
    """Valid x, kernel, bias, y and d_y of a Dense layer with input (*lead, I)."""
    rng = np.random.default_rng(seed)
    x, kernel, bias = _normal(rng, *lead, I), _normal(rng, I, O), _normal(rng, O)
    y = ops.dense_forward(x, kernel, bias)
    return {"x": x, "kernel": kernel, "bias": bias, "y": y, "d_y": _normal(rng, *lead, O)}


def _replace(valid, overrides):
    """valid with the entries named in overrides replaced; an override that is callable
    maps the valid value to the bad one (so bad values can keep the valid shape)."""
    args = dict(valid)
    for name in list(overrides):
        if name in args:
            value = overrides.pop(name)
            args[name] = value(args[name]) if callable(value) else value
    return args


def call_gru_forward(**overrides):
    arrays = _gru_arrays(reset_after=overrides.get("reset_after", True))
    return ops.gru_forward(**_replace(arrays, overrides), **overrides)


def call_gru_backward(**overrides):
    reset_after = overrides.pop("reset_after", True)
    out = ops.gru_forward(*_gru_arrays(reset_after=reset_after).values(),
                          reset_after=reset_after)
    args = _replace({"cache": out.cache, **_gru_upstream()}, overrides)
    return ops.rnn_backward(args.pop("cache"), **args, **overrides)


def call_dense_forward(**overrides):
    arrays = _dense_arrays()
    args = _replace({name: arrays[name] for name in ("x", "kernel", "bias")}, overrides)
    return ops.dense_forward(**args, **overrides)


def call_dense_backward(**overrides):
    arrays = _dense_arrays()
    args = _replace({name: arrays[name] for name in ("x", "kernel", "y", "d_y")}, overrides)
    return ops.dense_backward(**args, **overrides)


ENTRY_POINTS = {
    "gru_forward": call_gru_forward,
    "gru_backward": call_gru_backward,
    "dense_forward": call_dense_forward,
    "dense_backward": call_dense_backward,
}


# ---------------------------------------------------------------------------------- #
# 1. Bad input raises the right exception with a precise message                       #
# ---------------------------------------------------------------------------------- #


def _message_pattern(name, literals):
    """A regex that matches a message naming `name` ("<name> must ...", not as a suffix
    of another name such as recurrent_kernel) and containing every literal."""
    parts = [rf"(?<![\w.]){re.escape(name)} must"] + [re.escape(s) for s in literals]
    return "(?s)" + "".join(f"(?=.*{part})" for part in parts)


def _case(entry, exc, name, literals, case_id, marks=(), **overrides):
    return pytest.param(entry, overrides, exc, name, literals, id=f"{entry}-{case_id}",
                        marks=marks)


def _zeros(*shape, dtype=np.float32):
    return np.zeros(shape, dtype)


def _poisoned(value):
    def poison(valid):
        bad = np.array(valid, copy=True)
        bad.flat[bad.size // 2] = value
        return bad

    return poison


def _as_dtype(dtype):
    return lambda valid: np.asarray(valid).astype(dtype)


def _read_only(shape):
    arr = np.zeros(shape, np.float32)
    arr.flags.writeable = False
    return arr


def _non_contiguous(shape):
    """A float32 array of `shape` that is not C-contiguous (every other element)."""
    return np.zeros((*shape[:-1], 2 * shape[-1]), np.float32)[..., ::2]


BAD_VALUES = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}
# (dtype, how the message shows it)
BAD_DTYPES = {"complex": (np.complex64, "complex"), "object": (object, "'O'"),
              "str": (str, "<U")}

SHAPE_CASES = [
    # gru_forward: rank, shapes of the weights, bias layout, initial state.
    _case("gru_forward", ValueError, "x", ["3-D", "(2, 4)"], "x-2d", x=_zeros(B, I)),
    _case("gru_forward", ValueError, "x", ["3-D", "(2, 3, 4, 1)"], "x-4d", x=_zeros(B, T, I, 1)),
    _case("gru_forward", ValueError, "kernel", ["(4, 15)", "(5, 15)"], "kernel-rows",
          kernel=_zeros(I + 1, H3)),
    _case("gru_forward", ValueError, "kernel", ["(4, 15)", "(4, 18)"], "kernel-cols",
          kernel=_zeros(I, H3 + 3)),
    _case("gru_forward", ValueError, "kernel", ["2-D", "(60,)"], "kernel-1d",
          kernel=_zeros(I * H3)),
    _case("gru_forward", ValueError, "recurrent_kernel", ["(5, 15)", "(5, 16)"], "rk-cols",
          recurrent_kernel=_zeros(H, H3 + 1)),
    _case("gru_forward", ValueError, "recurrent_kernel", ["(6, 18)", "(6, 15)"], "rk-rows",
          recurrent_kernel=_zeros(H + 1, H3)),
    _case("gru_forward", ValueError, "bias", ["(2, 15)", "(2, 16)"], "bias-cols",
          bias=_zeros(2, H3 + 1)),
    _case("gru_forward", ValueError, "bias", ["(2, 15)", "(3, 15)"], "bias-rows",
          bias=_zeros(3, H3)),
    _case("gru_forward", ValueError, "bias", ["2-D", "(15,)"], "1d-bias-for-reset_after",
          bias=_zeros(H3)),
    _case("gru_forward", ValueError, "bias", ["1-D", "(2, 15)"], "2d-bias-for-reset_before",
          bias=_zeros(2, H3), reset_after=False),
    _case("gru_forward", ValueError, "bias", ["(15,)", "(16,)"], "bias-length-reset_before",
          bias=_zeros(H3 + 1), reset_after=False),
    _case("gru_forward", ValueError, "initial_state", ["(2, 5)", "(3, 5)"], "h0-batch",
          initial_state=_zeros(B + 1, H)),
    _case("gru_forward", ValueError, "initial_state", ["(2, 5)", "(2, 6)"], "h0-units",
          initial_state=_zeros(B, H + 1)),
    _case("gru_forward", ValueError, "initial_state", ["2-D", "(5,)"], "h0-1d",
          initial_state=_zeros(H)),
    # gru_backward: upstream gradients and accumulators.
    _case("gru_backward", ValueError, "d_outputs", ["(2, 3, 5)", "(2, 3, 6)"], "dout-units",
          d_outputs=_zeros(B, T, H + 1)),
    _case("gru_backward", ValueError, "d_outputs", ["(2, 3, 5)", "(2, 4, 5)"], "dout-steps",
          d_outputs=_zeros(B, T + 1, H)),
    _case("gru_backward", ValueError, "d_outputs", ["3-D", "(2, 5)"], "dout-2d",
          d_outputs=_zeros(B, H)),
    _case("gru_backward", ValueError, "d_last_state", ["(2, 5)", "(2, 6)"], "dlast-units",
          d_last_state=_zeros(B, H + 1)),
    _case("gru_backward", ValueError, "d_last_state", ["2-D", "(2, 3, 5)"], "dlast-3d",
          d_last_state=_zeros(B, T, H)),
    _case("gru_backward", ValueError, "d_bias", ["(15,)", "(2, 15)"], "dbias-reset_before",
          d_bias=_zeros(2, H3), reset_after=False),
    # dense_forward / dense_backward (2-D x, so the shapes in the messages are the user's).
    _case("dense_forward", ValueError, "x", ["at least 1 dimension"], "x-scalar",
          x=np.float32(1.0)),
    _case("dense_forward", ValueError, "kernel", ["2-D", "(4,)"], "kernel-1d", kernel=_zeros(I)),
    _case("dense_forward", ValueError, "kernel", ["2-D", "(4, 6, 1)"], "kernel-3d",
          kernel=_zeros(I, O, 1)),
    _case("dense_forward", ValueError, "kernel", ["(4, None)", "(5, 6)"], "kernel-rows",
          kernel=_zeros(I + 1, O)),
    _case("dense_forward", ValueError, "bias", ["(6,)", "(7,)"], "bias-length",
          bias=_zeros(O + 1)),
    _case("dense_forward", ValueError, "bias", ["1-D", "(1, 6)"], "bias-2d", bias=_zeros(1, O)),
    _case("dense_backward", ValueError, "kernel", ["(4, None)", "(3, 6)"], "kernel-rows",
          kernel=_zeros(I - 1, O)),
    _case("dense_backward", ValueError, "y", ["(6, 6)", "(6, 7)"], "y-units", y=_zeros(N, O + 1)),
    _case("dense_backward", ValueError, "y", ["(6, 6)", "(5, 6)"], "y-rows", y=_zeros(N - 1, O)),
    _case("dense_backward", ValueError, "d_y", ["(6, 6)", "(6, 5)"], "dy-units",
          d_y=_zeros(N, O - 1)),
    _case("dense_backward", ValueError, "d_y", ["(6, 6)", "(7, 6)"], "dy-rows",
          d_y=_zeros(N + 1, O)),
]

EMPTY_CASES = [
    _case("gru_forward", ValueError, "x", ["must not be empty"], "x-B0", x=_zeros(0, T, I)),
    _case("gru_forward", ValueError, "x", ["must not be empty"], "x-T0", x=_zeros(B, 0, I)),
    _case("gru_forward", ValueError, "x", ["must not be empty"], "x-I0", x=_zeros(B, T, 0)),
    _case("gru_forward", ValueError, "kernel", ["must not be empty"], "kernel-I0",
          kernel=_zeros(0, H3)),
    _case("gru_forward", ValueError, "recurrent_kernel", ["must not be empty"], "rk-H0",
          recurrent_kernel=_zeros(0, 0)),
    _case("gru_forward", ValueError, "bias", ["must not be empty"], "bias", bias=_zeros(2, 0)),
    _case("gru_forward", ValueError, "initial_state", ["must not be empty"], "h0-B0",
          initial_state=_zeros(0, H)),
    _case("gru_backward", ValueError, "d_outputs", ["must not be empty"], "dout",
          d_outputs=_zeros(0, T, H)),
    _case("gru_backward", ValueError, "d_last_state", ["must not be empty"], "dlast",
          d_last_state=_zeros(B, 0)),
    _case("dense_forward", ValueError, "x", ["must not be empty"], "x2d-N0", x=_zeros(0, I)),
    _case("dense_forward", ValueError, "x", ["must not be empty"], "x2d-I0", x=_zeros(N, 0)),
    _case("dense_forward", ValueError, "x", ["must not be empty"], "x3d-B0", x=_zeros(0, T, I)),
    _case("dense_forward", ValueError, "x", ["must not be empty"], "x3d-T0", x=_zeros(B, 0, I)),
    _case("dense_forward", ValueError, "x", ["must not be empty"], "x3d-I0", x=_zeros(B, T, 0)),
    _case("dense_forward", ValueError, "kernel", ["must not be empty"], "kernel-O0",
          kernel=_zeros(I, 0)),
    _case("dense_forward", ValueError, "bias", ["must not be empty"], "bias", bias=_zeros(0)),
    _case("dense_backward", ValueError, "x", ["must not be empty"], "x2d-N0", x=_zeros(0, I)),
    _case("dense_backward", ValueError, "x", ["must not be empty"], "x3d-I0", x=_zeros(B, T, 0)),
    _case("dense_backward", ValueError, "y", ["must not be empty"], "y", y=_zeros(0, O)),
    _case("dense_backward", ValueError, "d_y", ["must not be empty"], "dy", d_y=_zeros(N, 0)),
]

# Every array argument of every entry point, with NaN / Inf and with non-real dtypes.
ARRAY_ARGUMENTS = {
    "gru_forward": ("x", "kernel", "recurrent_kernel", "bias", "initial_state"),
    "gru_backward": ("d_outputs", "d_last_state"),
    "dense_forward": ("x", "kernel", "bias"),
    "dense_backward": ("x", "kernel", "y", "d_y"),
}
NONFINITE_CASES = [
    _case(entry, ValueError, name, ["finite"], f"{name}-{label}", **{name: _poisoned(value)})
    for entry, names in ARRAY_ARGUMENTS.items()
    for name in names
    for label, value in BAD_VALUES.items()
]
NONFINITE_CASES.append(
    _case("gru_forward", ValueError, "x", ["finite"], "x-float64-overflows-float32",
          marks=pytest.mark.filterwarnings("ignore:overflow encountered in cast"),
          x=lambda valid: np.full(valid.shape, 1e39)))
DTYPE_CASES = [
    _case(entry, TypeError, name, ["real numeric", shown], f"{name}-{label}",
          **{name: _as_dtype(dtype)})
    for entry, names in ARRAY_ARGUMENTS.items()
    for name in names
    for label, (dtype, shown) in BAD_DTYPES.items()
]

GRU_ACTIVATIONS = ["'hard_sigmoid'", "'linear'", "'relu'", "'sigmoid'", "'tanh'"]
OPTION_CASES = [
    _case("gru_forward", ValueError, "activation", [*GRU_ACTIVATIONS, "'gelu'"], "gelu",
          activation="gelu"),
    _case("gru_forward", ValueError, "activation", [*GRU_ACTIVATIONS, "'softmax'"],
          "softmax", activation="softmax"),
    _case("gru_forward", ValueError, "recurrent_activation", [*GRU_ACTIVATIONS, "'softmax'"],
          "rec-softmax", recurrent_activation="softmax"),
    _case("gru_forward", ValueError, "recurrent_activation", [*GRU_ACTIVATIONS, "'swish'"],
          "rec-swish", recurrent_activation="swish"),
    _case("gru_forward", ValueError, "activation", [*GRU_ACTIVATIONS, "3"], "non-string",
          activation=3),
    _case("dense_forward", ValueError, "activation", [*GRU_ACTIVATIONS, "'softmax'", "'gelu'"],
          "gelu", activation="gelu"),
    _case("dense_backward", ValueError, "activation", ["'softmax'", "'tanh'", "'elu'"], "elu",
          activation="elu"),
    _case("gru_forward", TypeError, "reset_after", ["bool", "1"], "reset_after-int",
          reset_after=1),
    _case("gru_forward", TypeError, "go_backwards", ["bool", "'yes'"], "go_backwards-str",
          go_backwards="yes"),
    _case("gru_forward", TypeError, "training", ["bool", "None"], "training-None",
          training=None),
    _case("gru_forward", TypeError, "return_sequences", ["bool", "0"], "return_sequences-int",
          return_sequences=0),
    _case("gru_forward", TypeError, "return_sequences", ["bool"], "return_sequences-array",
          return_sequences=np.array([True])),
    _case("dense_backward", TypeError, "use_bias", ["bool", "1"], "use_bias-int", use_bias=1),
    _case("gru_backward", TypeError, "cache", ["RNNCache", "NoneType"], "cache-None",
          cache=None),
    _case("gru_backward", TypeError, "cache", ["RNNCache", "dict"], "cache-dict", cache={}),
    _case("gru_backward", TypeError, "cache", ["RNNCache", "ndarray"], "cache-raw-array",
          cache=lambda valid: valid._data),
    _case("gru_backward", TypeError, "cache", ["RNNCache", "RNNOutput"], "cache-whole-output",
          cache=lambda valid: ops.RNNOutput(None, _zeros(B, H), valid)),
]

ACCUMULATORS = {
    "gru_backward": {"d_kernel": (I, H3), "d_recurrent_kernel": (H, H3), "d_bias": (2, H3)},
    "dense_backward": {"d_kernel": (I, O), "d_bias": (O,)},
}


def _accumulator_cases():
    cases = []
    for entry, shapes in ACCUMULATORS.items():
        for name, shape in shapes.items():
            wrong_shape = (*shape[:-1], shape[-1] + 1)
            cases += [
                _case(entry, TypeError, name, ["float32", "float64"], f"{name}-float64",
                      **{name: np.zeros(shape)}),
                _case(entry, ValueError, name, [str(shape), str(wrong_shape)], f"{name}-shape",
                      **{name: _zeros(*wrong_shape)}),
                _case(entry, TypeError, name, ["C-contiguous"], f"{name}-non-contiguous",
                      **{name: _non_contiguous(shape)}),
                _case(entry, TypeError, name, ["writeable"], f"{name}-read-only",
                      **{name: _read_only(shape)}),
                _case(entry, TypeError, name, ["numpy.ndarray", "list"], f"{name}-list",
                      **{name: np.zeros(shape, np.float32).tolist()}),
            ]
    return cases


ERROR_CASES = (SHAPE_CASES + EMPTY_CASES + NONFINITE_CASES + DTYPE_CASES + OPTION_CASES
               + _accumulator_cases())


@pytest.mark.parametrize(("entry", "overrides", "exc", "name", "literals"), ERROR_CASES)
def test_bad_input_raises_a_precise_error(entry, overrides, exc, name, literals):
    """The exception type is exact enough (a SystemError or a crash fails the test) and
    the message names the argument, what was expected and what was received."""
    with pytest.raises(exc, match=_message_pattern(name, literals)):
        ENTRY_POINTS[entry](**overrides)


@pytest.mark.parametrize("name", ["y", "d_y"])
@pytest.mark.parametrize("lead", [(T, B), (B, T - 1)], ids=["same-rows", "fewer-rows"])
def test_dense_backward_rejects_y_whose_leading_shape_differs_from_x(name, lead):
    """y and d_y of (..., O) must have x's leading shape (B, T); the message shows the
    array the user passed, not the flattened (rows, O) view."""
    arrays = _dense_arrays(lead=(B, T))
    wrong = _zeros(*lead, O)
    args = {key: arrays[key] for key in ("x", "kernel", "y", "d_y")}
    args[name] = wrong
    with pytest.raises(ValueError, match=_message_pattern(name, [str(wrong.shape)])):
        ops.dense_backward(**args)


@pytest.mark.parametrize(
    ("entry", "name"),
    [(entry, name) for entry, shapes in ACCUMULATORS.items() for name in shapes])
def test_non_native_byte_order_accumulator_is_rejected_or_correct(entry, name):
    """A big-endian float32 array has NumPy type float32 but is not native floats: the
    binding must either refuse it or accumulate correctly, never write garbage."""
    fresh = ENTRY_POINTS[entry]()
    shape = ACCUMULATORS[entry][name]
    swapped = np.zeros(shape, dtype=np.dtype(np.float32).newbyteorder())
    try:
        ENTRY_POINTS[entry](**{name: swapped})
    except (TypeError, ValueError) as exc:
        assert name in str(exc)
        return
    field = {"d_kernel": "kernel", "d_recurrent_kernel": "recurrent_kernel",
             "d_bias": "bias"}[name]
    np.testing.assert_allclose(swapped, getattr(fresh, field), rtol=1e-6, atol=1e-6,
                               err_msg=f"{entry} accumulated into a byte-swapped {name}")


@pytest.mark.parametrize("shape, bad", [((0,), None), ((1,), 0), ((2000, 5), None),
                                        ((2000, 5), 4095), ((2000, 5), 4096), ((2000, 5), 9999)])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_find_nonfinite_gives_the_first_bad_flat_index(shape, bad, value):
    """The scan goes by blocks of 4096 entries: hits at the edges of a block count. The
    largest finite floats, subnormals and negative zero are finite."""
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    edge = np.array([np.finfo(np.float32).max, -np.finfo(np.float32).max,
                     np.finfo(np.float32).smallest_subnormal, -0.0], dtype=np.float32)
    a.flat[:min(a.size, 4)] = edge[:min(a.size, 4)]
    if bad is not None:
        a.flat[bad] = value
        a.flat[-1] = value  # a later hit does not hide the first
    assert _core.find_nonfinite(a) == bad
    # Other dtypes and layouts are converted to C-contiguous float32 first, as everywhere.
    assert _core.find_nonfinite(a.astype(np.float64)) == bad
    assert _core.find_nonfinite(np.asfortranarray(a)) == bad


def test_find_nonfinite_counts_float32_overflow_and_rejects_non_numbers():
    with np.errstate(over="ignore"):
        assert _core.find_nonfinite(np.array([1.0, 1e39])) == 1
    with pytest.raises(TypeError, match="x must be a real numeric array"):
        _core.find_nonfinite(np.array(["a"]))


def test_bool_like_flags_and_none_activation_are_accepted():
    """The checks do not over-reject: NumPy bools are bools, None is "linear"."""
    out = call_gru_forward(reset_after=np.True_, training=np.bool_(True), activation=None)
    grads = ops.rnn_backward(out.cache, d_last_state=np.ones((B, H), np.float32))
    assert grads.kernel.shape == (I, H3)
    dense = call_dense_backward(use_bias=np.False_, activation=None)
    assert dense.bias is None


# ---------------------------------------------------------------------------------- #
# 2. Inputs are never mutated                                                          #
# ---------------------------------------------------------------------------------- #


def _in_layout(arr, layout):
    """float32 C order is used by the core in place; the others are converted copies."""
    if arr is None or layout == "float32-C":
        return arr
    if layout == "float64-F":
        return np.asfortranarray(arr, dtype=np.float64)
    raise AssertionError(layout)


def _snapshot(arrays):
    return {name: None if a is None else (a.dtype, a.shape, a.tobytes())
            for name, a in arrays.items()}


def _assert_unchanged(arrays, before, when):
    for name, arr in arrays.items():
        was = before[name]
        now = None if arr is None else (arr.dtype, arr.shape, arr.tobytes())
        assert now == was, f"{name} was modified by {when}"


@pytest.mark.parametrize("layout", ["float32-C", "float64-F"])
@pytest.mark.parametrize(
    "config",
    [
        {"reset_after": True},
        {"reset_after": False, "go_backwards": True, "activation": "relu",
         "recurrent_activation": "hard_sigmoid"},
        {"reset_after": True, "bias": None, "initial_state": None, "return_sequences": False},
        {"reset_after": False, "initial_state": None, "activation": "linear",
         "recurrent_activation": "tanh"},
    ],
    ids=["default", "reset_before-backwards", "no-bias-no-state", "linear"])
def test_gru_inputs_are_not_mutated(config, layout):
    options = dict(config)
    arrays = _gru_arrays(seed=3, reset_after=options["reset_after"])
    for name in ("bias", "initial_state"):
        if name in options:
            arrays[name] = options.pop(name)
    arrays = {name: _in_layout(a, layout) for name, a in arrays.items()}
    upstream = {name: _in_layout(a, layout) for name, a in _gru_upstream(seed=4).items()}
    everything = {**arrays, **upstream}
    before = _snapshot(everything)

    out = ops.gru_forward(**arrays, **options)
    _assert_unchanged(everything, before, "gru_forward")
    ops.rnn_backward(out.cache, **upstream)
    _assert_unchanged(everything, before, "gru_backward")


@pytest.mark.parametrize("layout", ["float32-C", "float64-F"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation",
                         ["linear", "relu", "sigmoid", "tanh", "hard_sigmoid", "softmax"])
def test_dense_inputs_are_not_mutated(activation, use_bias, layout):
    arrays = _dense_arrays(seed=5, lead=(B, T))
    x, kernel = _in_layout(arrays["x"], layout), _in_layout(arrays["kernel"], layout)
    bias = _in_layout(arrays["bias"], layout) if use_bias else None
    d_y = _in_layout(arrays["d_y"], layout)
    everything = {"x": x, "kernel": kernel, "bias": bias, "d_y": d_y}
    before = _snapshot(everything)

    y = ops.dense_forward(x, kernel, bias, activation)
    _assert_unchanged(everything, before, "dense_forward")
    y = _in_layout(y, layout)
    everything["y"] = y
    before = _snapshot(everything)
    ops.dense_backward(x, kernel, y, d_y, activation=activation, use_bias=use_bias)
    _assert_unchanged(everything, before, "dense_backward")


# ---------------------------------------------------------------------------------- #
# 3. Reference counts are stable                                                      #
# ---------------------------------------------------------------------------------- #

REFCOUNT_CALLS = 1000


def _refcount_objects():
    """Every array the loops below pass in (including reused accumulators)."""
    gru = {**_gru_arrays(seed=6), **_gru_upstream(seed=7)}
    dense = _dense_arrays(seed=8)
    objects = {f"gru_{name}": arr for name, arr in gru.items()}
    objects.update({f"dense_{name}": arr for name, arr in dense.items()})
    objects.update({
        "gru_d_kernel": np.zeros((I, H3), np.float32),
        "gru_d_recurrent_kernel": np.zeros((H, H3), np.float32),
        "gru_d_bias": np.zeros((2, H3), np.float32),
        "dense_d_kernel": np.zeros((I, O), np.float32),
        "dense_d_bias": np.zeros(O, np.float32),
        "bad_kernel": np.zeros((I + 1, H3), np.float32),
        "bad_d_kernel": np.zeros((I, H3 + 1), np.float32),
        "bad_d_y": np.zeros((N, O + 1), np.float32),
        "nan_x": np.full((B, T, I), np.nan, np.float32),
    })
    return objects


def _good_calls(o):
    """Every entry point with and without the optional arguments (so the None paths of
    the binding, in and out, are exercised)."""
    x, k, rk, b, h0 = (o[f"gru_{n}"] for n in
                       ("x", "kernel", "recurrent_kernel", "bias", "initial_state"))
    out = ops.gru_forward(x, k, rk, b, h0)
    ops.rnn_backward(out.cache, o["gru_d_outputs"], o["gru_d_last_state"],
                     d_kernel=o["gru_d_kernel"], d_recurrent_kernel=o["gru_d_recurrent_kernel"],
                     d_bias=o["gru_d_bias"])
    out = ops.gru_forward(x, k, rk, return_sequences=False)
    ops.rnn_backward(out.cache, d_last_state=o["gru_d_last_state"])
    ops.rnn_backward(out.cache, d_outputs=o["gru_d_outputs"])
    ops.rnn_backward(out.cache, d_outputs=o["gru_d_outputs"], input_gradient=False)
    ops.gru_forward(x, k, rk, b, h0, training=False)
    _core.find_nonfinite(x)
    _core.find_nonfinite(o["nan_x"])
    dx, dk, db, y, dy = (o[f"dense_{n}"] for n in ("x", "kernel", "bias", "y", "d_y"))
    ops.dense_forward(dx, dk, db, "tanh")
    ops.dense_forward(dx, dk)
    ops.dense_backward(dx, dk, y, dy, activation="tanh", d_kernel=o["dense_d_kernel"],
                       d_bias=o["dense_d_bias"])
    ops.dense_backward(dx, dk, y, dy, use_bias=False)


def _bad_calls(o):
    """Failures at each stage of the binding: conversion, shape checks after other
    arrays were converted, and accumulators after every input was accepted."""
    x, k, rk, b, h0 = (o[f"gru_{n}"] for n in
                       ("x", "kernel", "recurrent_kernel", "bias", "initial_state"))
    out = ops.gru_forward(x, k, rk, b, h0)
    dx, dk, y, dy = (o[f"dense_{n}"] for n in ("x", "kernel", "y", "d_y"))
    calls = [
        lambda: ops.gru_forward(o["nan_x"], k, rk, b, h0),
        lambda: ops.gru_forward(x, o["bad_kernel"], rk, b, h0),
        lambda: ops.gru_forward(x, k, rk, b, o["gru_d_last_state"][:, :-1]),
        lambda: ops.rnn_backward(out.cache, o["gru_d_outputs"], o["gru_d_last_state"],
                                 d_kernel=o["bad_d_kernel"]),
        lambda: ops.rnn_backward(out.cache, o["gru_d_outputs"], o["gru_d_last_state"],
                                 d_kernel=o["gru_d_kernel"], d_bias=o["bad_d_kernel"]),
        lambda: ops.dense_forward(dx, o["bad_kernel"]),
        lambda: ops.dense_backward(dx, dk, y, o["bad_d_y"]),
        lambda: ops.dense_backward(dx, dk, y, dy, d_kernel=o["bad_d_kernel"]),
    ]
    for call in calls:
        try:
            call()
        except (TypeError, ValueError):
            pass
        else:
            raise AssertionError("a bad call did not raise")


def _repeat(calls, objects, n):
    for _ in range(n):
        calls(objects)


def _refcounts(objects):
    return {name: sys.getrefcount(obj) for name, obj in objects.items()}


@pytest.mark.parametrize("calls", [_good_calls, _bad_calls], ids=["good", "error-paths"])
def test_refcounts_are_stable(calls):
    """A missing or extra Py_DECREF on any path changes a count by about 1000."""
    objects = _refcount_objects()
    _repeat(calls, objects, 2)  # warm-up: lazy imports and caches
    gc.collect()
    gc.disable()  # no collection between the two measurements
    try:
        before, none_before = _refcounts(objects), sys.getrefcount(None)
        _repeat(calls, objects, REFCOUNT_CALLS)
        after, none_after = _refcounts(objects), sys.getrefcount(None)
    finally:
        gc.enable()
    assert after == before
    # None is referenced all over the interpreter; a leak here would be >= 1000 refs.
    assert abs(none_after - none_before) < 50


# ---------------------------------------------------------------------------------- #
# 4. No leak over many calls                                                          #
# ---------------------------------------------------------------------------------- #

TRACED_SLACK = 1 << 20  # 1 MB of Python-traced memory
RSS_SLACK = 8 << 20  # 8 MB of resident memory (allocator caches, page granularity)


def _rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _train_step(arrays, upstream, accumulators):
    out = ops.gru_forward(*arrays.values())
    ops.rnn_backward(out.cache, **upstream, **accumulators)


def _train_steps(arrays, upstream, accumulators, n):
    for _ in range(n):
        _train_step(arrays, upstream, accumulators)


# The size, GRU(128) at B=64, T=100, I=32, for 1000 calls (about 20 ms each),
# and a small size whose per-call bookkeeping would show a leak sooner.
@pytest.mark.parametrize(
    ("b", "t", "i", "h", "calls"),
    [(64, 100, 32, 128, 1000), (4, 10, 8, 16, 1000)],
    ids=["GRU128-B64-T100-I32-1000calls", "small-1000calls"])
def test_many_calls_do_not_grow_memory(b, t, i, h, calls):
    """On the default thread count, so the per-call worker threads are covered too."""
    arrays = _gru_arrays(seed=9, b=b, t=t, i=i, h=h)
    upstream = _gru_upstream(seed=10, b=b, t=t, h=h)
    accumulators = {"d_kernel": np.zeros((i, 3 * h), np.float32)}
    tracemalloc.start()
    try:
        _train_steps(arrays, upstream, accumulators, 5)  # warm-up
        gc.collect()
        traced_before, rss_before = tracemalloc.get_traced_memory()[0], _rss_bytes()
        _train_steps(arrays, upstream, accumulators, calls)
        gc.collect()
        traced_after, rss_after = tracemalloc.get_traced_memory()[0], _rss_bytes()
    finally:
        tracemalloc.stop()
    assert traced_after - traced_before < TRACED_SLACK, "traced memory grew"
    assert rss_after - rss_before < RSS_SLACK, "resident memory grew"


# ---------------------------------------------------------------------------------- #
# 5. No allocation inside the time loop                                               #
# ---------------------------------------------------------------------------------- #

ALLOC_SHAPE = {"b": 4, "i": 8, "h": 16}
SHORT, LONG = 100, 1000


def _backward_peak_floats_per_step(b, i, h):
    """Floats per timestep alive at the peak of forward + backward, which is inside
    gru_backward's core call (csrc/rnn.c, rnn_sizes): the forward's outputs (B*H) and
    cache (states B*H + gates 4*B*H), then backward's d_x (B*I) and its workspace (two
    B*3H gate-gradient buffers). The forward's own workspace (3*B*H per step) is freed
    before and is smaller."""
    return b * h + 5 * b * h + b * i + 6 * b * h


def _traced_call(t):
    """(tracemalloc peak above the start, blocks the call leaves alive) for one
    forward+backward at T=t; allocations are attributed to ops.py, the Python frame
    active while the extension runs."""
    arrays = _gru_arrays(seed=11, t=t, **ALLOC_SHAPE)
    upstream = _gru_upstream(seed=12, t=t, b=ALLOC_SHAPE["b"], h=ALLOC_SHAPE["h"])

    def call():
        out = ops.gru_forward(*arrays.values())
        return out, ops.rnn_backward(out.cache, **upstream)

    call()
    gc.collect()
    only_ops = [tracemalloc.Filter(True, ops.__file__)]
    tracemalloc.start()
    try:
        call()  # warm-up under tracing
        before = tracemalloc.take_snapshot().filter_traces(only_ops)
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        results = call()
        peak = tracemalloc.get_traced_memory()[1]
        after = tracemalloc.take_snapshot().filter_traces(only_ops)
    finally:
        tracemalloc.stop()
    del results
    return peak - start, len(after.traces) - len(before.traces)


def test_memory_of_a_call_grows_only_by_the_time_proportional_buffers():
    """Why this proves the point. The extension allocates only through Python's
    allocators (checked by the next test), which tracemalloc traces, NumPy's array data
    included. Between T=100 and T=1000 the traced peak must grow by exactly the known
    O(T) buffers (outputs, cache, d_x, backward workspace): any allocation made per
    timestep and alive at the peak (kept, or leaked) adds to the peak at T=1000 about
    900 times its size and breaks the equality (slack: 4 bytes per extra step). And the
    number of blocks the call leaves allocated is independent of T: a per-step object
    kept anywhere would add ~900 blocks. Per-step allocations freed within the step are
    invisible to both and are counted by test_malloc_calls_do_not_depend_on_T."""
    short_peak, short_blocks = _traced_call(SHORT)
    long_peak, long_blocks = _traced_call(LONG)
    explained = (LONG - SHORT) * _backward_peak_floats_per_step(**ALLOC_SHAPE) * FLOAT32_BYTES
    assert abs((long_peak - short_peak) - explained) <= 4 * (LONG - SHORT), (
        f"peak grew by {long_peak - short_peak} bytes from T={SHORT} to T={LONG}; the "
        f"T-proportional buffers explain {explained}")
    # A few blocks may differ: the interpreter's free lists decide whether a small
    # object (a tuple, a bound method) comes from the allocator, which tracemalloc sees.
    # A per-step leak would differ by about 900.
    assert long_blocks > 0 and abs(short_blocks - long_blocks) <= 10


ALLOCATOR_SYMBOLS = {"malloc", "calloc", "realloc", "free", "reallocarray", "posix_memalign",
                     "aligned_alloc", "memalign", "valloc", "pvalloc", "mmap", "mmap64", "sbrk",
                     "brk"}


def test_extension_allocates_only_through_python_allocators():
    """The binding and the core are one shared object; if it imports no C allocator,
    everything it allocates goes through PyMem_Raw* or NumPy, which tracemalloc sees."""
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.fail("readelf not found (install binutils) to list the extension's imports")
    symbols = subprocess.run([readelf, "--dyn-syms", "-W", _core.__file__], check=True,
                             capture_output=True, text=True).stdout
    imported = {match.group(1) for match in re.finditer(r" UND ([^@\s]+)", symbols)}
    assert "PyMem_RawMalloc" in imported  # the parse found the imports
    assert not imported & ALLOCATOR_SYMBOLS


# An LD_PRELOAD library that counts the C allocator calls made while counting is on.
MALLOC_COUNTER_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

static unsigned long long calls;
static int counting, resolving;
static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_aligned_alloc)(size_t, size_t);
static char early[1 << 12]; /* dlsym may calloc before next_calloc is known */
static size_t early_used;

static void resolve(void) {
    if (next_malloc || resolving) return;
    resolving = 1;
    next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    next_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    next_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    resolving = 0;
}

static void count(void) {
    if (__atomic_load_n(&counting, __ATOMIC_RELAXED)) {
        __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    }
}

void *malloc(size_t n) { resolve(); count(); return next_malloc(n); }

void *calloc(size_t n, size_t size) {
    if (!next_calloc && resolving) {
        void *p = early + early_used;
        early_used += (n * size + 15) & ~(size_t)15;
        return p;
    }
    resolve(); count(); return next_calloc(n, size);
}

void *realloc(void *p, size_t n) { resolve(); count(); return next_realloc(p, n); }

int posix_memalign(void **p, size_t align, size_t n) {
    resolve(); count(); return next_posix_memalign(p, align, n);
}

void *aligned_alloc(size_t align, size_t n) {
    resolve(); count(); return next_aligned_alloc(align, n);
}

void counter_start(void) {
    __atomic_store_n(&calls, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
}

unsigned long long counter_stop(void) {
    __atomic_store_n(&counting, 0, __ATOMIC_RELAXED);
    return __atomic_load_n(&calls, __ATOMIC_RELAXED);
}
"""

# Runs in the child: fewest allocator calls of one forward+backward, for each T.
MALLOC_COUNT_SCRIPT = textwrap.dedent("""
    import ctypes, json, sys
    import numpy as np
    from gru_py import ops

    counter = ctypes.CDLL(sys.argv[1])
    counter.counter_stop.restype = ctypes.c_ulonglong
    b, i, h = 8, 16, 32
    counts = {}
    for t in map(int, sys.argv[2:]):
        rng = np.random.default_rng(t)
        x, k, rk, bias = (rng.standard_normal(s).astype(np.float32) * 0.5
                          for s in ((b, t, i), (i, 3 * h), (h, 3 * h), (2, 3 * h)))
        d_out = rng.standard_normal((b, t, h)).astype(np.float32)
        seen = []
        for repeat in range(5):
            counter.counter_start()
            out = ops.gru_forward(x, k, rk, bias)
            grads = ops.rnn_backward(out.cache, d_out)
            seen.append(counter.counter_stop())
            del out, grads
        counts[t] = min(seen[2:])  # the first calls warm caches up
    print(json.dumps(counts))
""")


def test_malloc_calls_do_not_depend_on_T(tmp_path):
    """Counts every C allocator call (malloc, calloc, realloc, posix_memalign,
    aligned_alloc) made by one forward+backward, in a child process with a counting
    LD_PRELOAD library: a per-timestep allocation, even one freed at once, adds 900
    calls at T=1000. OpenBLAS runs single-threaded there: its threaded GEMM mallocs
    once per call (its own internals, one GEMM per timestep), which would drown the
    signal."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the allocation counter")
    library = tmp_path / "malloc_counter.so"
    source = tmp_path / "malloc_counter.c"
    source.write_text(MALLOC_COUNTER_C)
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(source),
                    "-ldl"], check=True, capture_output=True)
    env = {**os.environ, "LD_PRELOAD": str(library), "OPENBLAS_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    child = subprocess.run([sys.executable, "-c", MALLOC_COUNT_SCRIPT, str(library), str(SHORT),
                            str(LONG)],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert child.returncode == 0, child.stderr
    counts = {int(t): n for t, n in json.loads(child.stdout).items()}
    # The call allocates at least its result arrays, so the counter is working.
    assert counts[SHORT] >= 5
    # At T=1000 the cache is large enough (5 MB) to reuse the memory the previous call's
    # cache left behind (recycled_memory.c), which saves a call: fewer, never more.
    assert counts[LONG] <= counts[SHORT], counts


# ---------------------------------------------------------------------------------- #
# 6. Recycled memory of large results (csrc/binding/recycled_memory.c)                #
# ---------------------------------------------------------------------------------- #

RECYCLED = "gru_py_recycled_memory"
LARGE_ROWS = (1024, 512)  # 2 MiB of float32, above the 1 MiB threshold


def _handler_name(array):
    """The name of the NumPy data allocator that owns array's memory (NEP 49)."""
    multiarray = getattr(np, "_core", None) or np.core
    return multiarray.multiarray.get_handler_name(array)


def _assert_tanh(y, x):
    np.testing.assert_allclose(y, np.tanh(x), rtol=0, atol=1e-6)


def _large_result(seed=0, rows=LARGE_ROWS):
    """(x, tanh(x)) with the result straight from the binding, as it made it."""
    x = np.random.default_rng(seed).standard_normal(rows).astype(np.float32)
    return x, _core.activation_forward(x, activation=_core.ACT_TANH)


def test_large_results_reuse_the_memory_of_freed_ones():
    _, first = _large_result()
    assert _handler_name(first) == RECYCLED
    address = first.ctypes.data
    del first
    x, second = _large_result(seed=1)
    assert second.ctypes.data == address
    _assert_tanh(second, x)


def test_small_results_keep_numpys_allocator():
    y = ops.activation_forward(np.ones((4, 8), np.float32), "tanh")
    assert _handler_name(y) != RECYCLED


def test_live_results_and_their_views_keep_their_memory():
    x1, first = _large_result(seed=2)
    view = first[3:]
    _, second = _large_result(seed=3)  # first alive: its memory is not handed out
    assert not np.shares_memory(first, second)
    del first
    _, third = _large_result(seed=4)  # only a view alive: still not handed out
    assert not np.shares_memory(view, third)
    _assert_tanh(view, x1[3:])


def test_a_recycled_result_resizes_like_any_array():
    x, y = _large_result(seed=5)
    y.resize((LARGE_ROWS[0] * 2, LARGE_ROWS[1]), refcheck=False)
    _assert_tanh(y[:LARGE_ROWS[0]], x)
    np.testing.assert_array_equal(y[LARGE_ROWS[0]:], 0)  # NumPy zero-fills the growth
    y.resize((3, 5), refcheck=False)  # shrinks below the threshold: plain memory again
    _assert_tanh(y.ravel(), x.ravel()[:15])


def test_tracemalloc_counts_a_live_result_once():
    x = np.ones(LARGE_ROWS, np.float32)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        y = _core.activation_forward(x, activation=_core.ACT_TANH)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert y.nbytes <= grown < y.nbytes + 64 * 1024


def test_kept_memory_is_the_eight_most_recently_freed_blocks():
    """Results of nine sizes, each freed at once: the oldest is given back, whatever
    earlier tests left kept is pushed out first."""
    sizes = [(LARGE_ROWS[0] + 64 * extra, LARGE_ROWS[1]) for extra in range(9)]
    for rows in sizes:
        _large_result(rows=rows)  # freed at once
    newest = sizes[1:]
    assert _core.recycled_memory_kept_bytes() == sum(r * c for r, c in newest) * FLOAT32_BYTES


# ---------------------------------------------------------------------------------- #
# 7. Threads                                                                          #
# ---------------------------------------------------------------------------------- #

THREAD_CALLS = 50
# Big enough that a call is split between two jobs (csrc/parallel.c: B*T*H >= 65536).
THREAD_SHAPE = {"b": 16, "t": 40, "i": 16, "h": 128}


def _forward_backward(arrays, upstream):
    out = ops.gru_forward(*arrays.values())
    grads = ops.rnn_backward(out.cache, **upstream)
    return (out.outputs, out.last_state, *grads)


def _run_calls(arrays, upstream, n, barrier=None):
    if barrier is not None:
        barrier.wait()
    return [_forward_backward(arrays, upstream) for _ in range(n)]


def test_concurrent_calls_match_a_single_threaded_run():
    """Two threads at once, each on its own inputs, get bit-for-bit the results of calls
    made one at a time: nothing is shared between calls, and each call is split between
    two jobs the same way, whether it runs on the kept worker threads or, while the other
    call has them, on threads started for it."""
    inputs = [(_gru_arrays(seed=20 + k, **THREAD_SHAPE),
               _gru_upstream(seed=30 + k, b=THREAD_SHAPE["b"], t=THREAD_SHAPE["t"],
                             h=THREAD_SHAPE["h"]))
              for k in range(2)]
    expected = [_forward_backward(*args) for args in inputs]

    barrier = threading.Barrier(2)
    results, errors = [None, None], []

    def worker(k):
        try:
            results[k] = _run_calls(*inputs[k], THREAD_CALLS, barrier)
        except Exception as exc:  # re-raised below, in the test's thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    for k in range(2):
        assert len(results[k]) == THREAD_CALLS
        for call, got in enumerate(results[k]):
            for index, (g, want) in enumerate(zip(got, expected[k])):
                assert np.array_equal(g, want), f"thread {k}, call {call}, result {index}"


@pytest.mark.parametrize("phase", ["gru_forward", "gru_backward"])
def test_gil_is_released_during_a_long_call(phase):
    """A pure-Python counter thread makes progress while the call runs. The switch
    interval is raised far above the call's duration, so the interpreter never forces the
    calling thread to hand over the GIL: the counter can only run if the binding
    releases the GIL itself (the counter's own sleep hands the GIL back)."""
    arrays = _gru_arrays(seed=40, b=4, t=2000, i=32, h=256)
    out = ops.gru_forward(*arrays.values(), return_sequences=False)
    progress, running, stop = [0], threading.Event(), threading.Event()

    def counter():
        running.set()
        while not stop.is_set():
            progress[0] += 1
            time.sleep(1e-4)

    switch_interval = sys.getswitchinterval()
    thread = threading.Thread(target=counter)
    sys.setswitchinterval(60.0)
    try:
        thread.start()
        running.wait()
        before = progress[0]
        if phase == "gru_forward":
            ops.gru_forward(*arrays.values(), training=False)
        else:
            ops.rnn_backward(out.cache, d_last_state=np.ones((4, 256), np.float32))
        during = progress[0] - before
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(switch_interval)
    assert during > 0, f"no Python thread ran during {phase}"
