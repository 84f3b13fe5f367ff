"""Numerical tests of gru_py.ops.gru_forward / gru_backward (the C core through NumPy).

Oracles: the PyTorch known-answer vectors in tests/data, the Keras golden values, and the
float64 NumPy reference in tests/reference.py (its backward and central differences of
its forward).

Dimension letters: B batch, T timesteps, I input features, H units.

Tolerances. The core computes in float32 (about 6e-8 relative rounding per operation),
so a forward is compared to 1e-5 absolute, and a gradient, which sums many products of
different magnitudes, "relative to its scale": every entry within 1e-4 of the largest
magnitude of the expected array (atol = 1e-4 * max|want|, plus rtol = 1e-4). An entry-wise
relative tolerance would fail on entries that are small only because of cancellation.
"""

import itertools
from pathlib import Path

import numpy as np
import pytest
import reference as ref
from assertions import KINK_MARGIN, SEED_TRIES, UNBOUNDED, assert_abs, assert_scaled, kink_distance

from gru_py import ops

TORCH_VECTORS = Path(__file__).resolve().parent / "data" / "gru_torch_vectors.npz"
TORCH_CASES = ("small", "no_h0", "single", "wide", "backwards")

SHAPE = (2, 4, 3, 5)  # B, T, I, H of the reference grid
GRADIENTS = ("x", "initial_state", "kernel", "recurrent_kernel", "bias")

# (activation, recurrent_activation): every supported activation, and None (linear),
# appears in both positions.
ACTIVATION_PAIRS = [
    ("tanh", "sigmoid"),
    ("sigmoid", "hard_sigmoid"),
    ("hard_sigmoid", "tanh"),
    ("relu", "linear"),
    ("linear", "relu"),
    (None, "tanh"),
    ("tanh", None),
]


# ------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------


def _flags(activation="tanh", recurrent_activation="sigmoid", reset_after=True,
           go_backwards=False):
    return {
        "activation": activation,
        "recurrent_activation": recurrent_activation,
        "reset_after": reset_after,
        "go_backwards": go_backwards,
    }


def _ref_flags(flags):
    """The reference spells linear "linear" only; ops also accepts None."""
    return {k: ("linear" if v is None else v) for k, v in flags.items()}


def _make_case(seed, shape=SHAPE, *, reset_after=True, use_bias=True, use_initial_state=True,
               weight_scale=0.5):
    """Random float32 GRU inputs, weights and upstream gradients of shape (B, T, I, H)."""
    rng = np.random.default_rng(seed)
    b, t, i, h = shape

    def normal(size, scale=1.0):
        return (scale * rng.standard_normal(size)).astype(np.float32)

    return {
        "x": normal((b, t, i)),
        "kernel": normal((i, 3 * h), weight_scale),
        "recurrent_kernel": normal((h, 3 * h), weight_scale),
        "bias": (normal((2, 3 * h) if reset_after else (3 * h,), weight_scale)
                 if use_bias else None),
        "initial_state": normal((b, h), 0.5) if use_initial_state else None,
        "d_outputs": normal((b, t, h)),
        "d_last_state": normal((b, h)),
    }


def _pre_activations(case, flags):
    """The reference's gate pre-activations, each stacked over the steps: (T, B, H)."""
    _, _, steps = ref._gru_trace(
        case["x"], case["kernel"], case["recurrent_kernel"], case["bias"],
        case["initial_state"], **_ref_flags(flags))
    return {key: np.stack([step[key] for step in steps]) for key in ("pre_z", "pre_r", "pre_hh")}


def _kink_distance(case, flags):
    """Smallest distance of any pre-activation to a kink of its activation (reference)."""
    ref_flags = _ref_flags(flags)
    owners = {"pre_z": ref_flags["recurrent_activation"],
              "pre_r": ref_flags["recurrent_activation"], "pre_hh": ref_flags["activation"]}
    return kink_distance(owners, lambda: _pre_activations(case, flags))


def _smooth_case(base_seed, flags, shape=SHAPE, **case_options):
    """The first case from seeds base_seed, base_seed + 1, ... that stays off the kinks."""
    # Unbounded gates (z > 1 makes 1 - z negative) let the state grow step by step and
    # amplify float32 rounding with it; small weights keep the state O(1), where the
    # absolute forward tolerance is meaningful.
    if flags["recurrent_activation"] in UNBOUNDED:
        case_options.setdefault("weight_scale", 0.2)
    for seed in range(base_seed, base_seed + SEED_TRIES):
        case = _make_case(seed, shape, reset_after=flags["reset_after"], **case_options)
        if _kink_distance(case, flags) > KINK_MARGIN:
            return seed, case
    raise AssertionError(f"no seed in {base_seed}..{base_seed + SEED_TRIES - 1} avoids the "
                         f"kinks for shape {shape}, {flags}")


def _context(seed, case, flags):
    b, t, i = case["x"].shape
    h = case["recurrent_kernel"].shape[0]
    return (f"seed={seed} B,T,I,H={b},{t},{i},{h} use_bias={case['bias'] is not None} "
            f"initial_state={case['initial_state'] is not None} {flags}")


def _c_run(case, flags):
    """Forward (training) and backward of the core, with the case's upstream gradients."""
    out = ops.gru_forward(case["x"], case["kernel"], case["recurrent_kernel"], case["bias"],
                          case["initial_state"], **flags)
    grads = ops.rnn_backward(out.cache, case["d_outputs"], case["d_last_state"])
    return out, grads


def _assert_matches_reference(case, flags, context):
    out, grads = _c_run(case, flags)
    args = (case["x"], case["kernel"], case["recurrent_kernel"], case["bias"],
            case["initial_state"])
    want_outputs, want_last = ref.gru_forward(*args, **_ref_flags(flags))
    want = ref.gru_backward(*args, case["d_outputs"], case["d_last_state"],
                            **_ref_flags(flags))

    assert_abs(out.outputs, want_outputs, "outputs", context)
    assert_abs(out.last_state, want_last, "last_state", context)
    for name in GRADIENTS:
        if want[name] is None:
            assert getattr(grads, name) is None, f"d_{name} should be None; {context}"
        else:
            assert_scaled(getattr(grads, name), want[name], f"d_{name}", context)


# ------------------------------------------------------------------------------------
# 1. PyTorch known-answer vectors
# ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch_vectors():
    with np.load(TORCH_VECTORS, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.mark.parametrize("name", TORCH_CASES)
def test_matches_pytorch_vectors(torch_vectors, name):
    v = {key.split("/", 1)[1]: arr for key, arr in torch_vectors.items()
         if key.startswith(name + "/")}
    if name == "no_h0":
        # torch ran from a zero state; None must mean exactly that.
        assert not np.any(v["h0"]), "no_h0 vectors should have a zero h0"
        initial_state = None
    else:
        initial_state = v["h0"]
    go_backwards = bool(v["go_backwards"].item())
    context = f"torch case {name!r} x shape {v['x'].shape} go_backwards={go_backwards}"

    out = ops.gru_forward(v["x"], v["kernel"], v["recurrent_kernel"], v["bias"], initial_state,
                          go_backwards=go_backwards)
    grads = ops.rnn_backward(out.cache, v["d_outputs"], v["d_last_state"])

    # Forward: 1e-5 absolute. Gradients: 1e-4 relative to each array's scale (atol =
    # 1e-4 * max|want|), see the module docstring.
    assert_abs(out.outputs, v["outputs"], "outputs", context)
    assert_abs(out.last_state, v["last_state"], "last_state", context)
    for got, key in [(grads.x, "d_x"), (grads.initial_state, "d_h0"),
                     (grads.kernel, "d_kernel"), (grads.recurrent_kernel, "d_recurrent_kernel"),
                     (grads.bias, "d_bias")]:
        assert_scaled(got, v[key], key, context)


# ------------------------------------------------------------------------------------
# 2. Keras golden values
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reset_after,bias_shape,expected",
    [
        (True, (2, 9), [0.5217289, 0.6371659, 0.39384964]),
        (False, (9,), [0.5144776, 0.6426879, 0.4020829]),
    ])
def test_matches_keras_golden_values(reset_after, bias_shape, expected):
    x = np.arange(72, dtype=np.float32).reshape(3, 6, 4)
    kernel = np.full((4, 9), 0.01, dtype=np.float32)
    recurrent_kernel = np.full((3, 9), 0.02, dtype=np.float32)
    bias = np.full(bias_shape, 0.03, dtype=np.float32)
    out = ops.gru_forward(x, kernel, recurrent_kernel, bias, reset_after=reset_after)
    context = f"Keras golden, x shape (3, 6, 4), H=3, reset_after={reset_after}"
    want = np.repeat(np.array(expected)[:, None], 3, axis=1)
    assert_abs(out.last_state, want, "last_state", context, atol=1e-6)
    np.testing.assert_array_equal(out.outputs[:, -1], out.last_state, err_msg=context)


# ------------------------------------------------------------------------------------
# 3. Against the float64 reference over the option grid
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation,recurrent_activation", ACTIVATION_PAIRS)
@pytest.mark.parametrize("reset_after,use_bias,use_initial_state,go_backwards",
                         list(itertools.product([True, False], repeat=4)))
def test_matches_reference(activation, recurrent_activation, reset_after, use_bias,
                           use_initial_state, go_backwards):
    flags = _flags(activation, recurrent_activation, reset_after, go_backwards)
    seed, case = _smooth_case(100, flags, use_bias=use_bias,
                              use_initial_state=use_initial_state)
    _assert_matches_reference(case, flags, _context(seed, case, flags))


@pytest.mark.parametrize("reset_after,use_bias,go_backwards",
                         list(itertools.product([True, False], repeat=3)))
def test_return_sequences_and_training_flags(reset_after, use_bias, go_backwards):
    seed = 200
    case = _make_case(seed, reset_after=reset_after, use_bias=use_bias)
    flags = _flags(reset_after=reset_after, go_backwards=go_backwards)
    context = _context(seed, case, flags)
    args = (case["x"], case["kernel"], case["recurrent_kernel"], case["bias"],
            case["initial_state"])
    full = ops.gru_forward(*args, **flags)
    assert full.cache is not None, context

    last_only = ops.gru_forward(*args, return_sequences=False, **flags)
    assert last_only.outputs is None, context
    assert last_only.cache is not None, context
    np.testing.assert_array_equal(last_only.last_state, full.last_state, err_msg=context)

    # Inference runs the same float32 arithmetic in the same order, only into reused
    # buffers, so its results are identical, not merely close.
    inference = ops.gru_forward(*args, training=False, **flags)
    assert inference.cache is None, context
    np.testing.assert_array_equal(inference.outputs, full.outputs, err_msg=context)
    np.testing.assert_array_equal(inference.last_state, full.last_state, err_msg=context)


@pytest.mark.parametrize("activation", ["hard_sigmoid", "relu"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_saturated_hard_sigmoid_gates_match_reference(activation, reset_after):
    # Large weights drive the hard_sigmoid gates into both clipped regions (derivative 0)
    # as well as the sloped middle, which small weights rarely leave.
    flags = _flags(activation, "hard_sigmoid", reset_after)
    seed, case = _smooth_case(800, flags, weight_scale=2.0)
    context = _context(seed, case, flags)
    gates = np.concatenate([_pre_activations(case, flags)[k] for k in ("pre_z", "pre_r")])
    assert np.any(gates < -3) and np.any(gates > 3) and np.any(np.abs(gates) < 3), (
        f"precondition: the gates should reach both clipped regions and the slope; {context}")
    _assert_matches_reference(case, flags, context)


# ------------------------------------------------------------------------------------
# 4. Central differences of the reference forward vs the core's backward
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation,recurrent_activation",
                         [("tanh", "sigmoid"), ("relu", "hard_sigmoid")])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_backward_matches_central_differences(activation, recurrent_activation, reset_after,
                                              go_backwards):
    flags = _flags(activation, recurrent_activation, reset_after, go_backwards)
    seed, case = _smooth_case(300, flags, shape=(2, 3, 3, 4))
    context = _context(seed, case, flags)
    _, grads = _c_run(case, flags)

    # The float32 inputs are exactly representable in float64, so the reference
    # differentiates the very function the core ran.
    params = {name: case[name].astype(np.float64) for name in GRADIENTS}

    def loss():
        outputs, last_state = ref.gru_forward(
            params["x"], params["kernel"], params["recurrent_kernel"], params["bias"],
            params["initial_state"], **_ref_flags(flags))
        return (np.sum(outputs * case["d_outputs"])
                + np.sum(last_state * case["d_last_state"]))

    # A float64 central difference with eps=1e-6 is accurate to ~1e-9 (truncation eps^2
    # and rounding 1e-16/eps), so the difference measures the float32 backward alone,
    # whose error is ~1e-6 of the gradient's scale: 1e-4 of the scale leaves ample room
    # and still catches any wrong term (those are O(scale)).
    for name in GRADIENTS:
        numeric = ref.numerical_gradient(loss, params[name])
        assert_scaled(getattr(grads, name), numeric, f"d_{name} (central differences)",
                       context)


# ------------------------------------------------------------------------------------
# 5. Edge shapes and long sequences
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 4, 3, 5), (2, 1, 3, 5), (2, 4, 1, 5), (2, 4, 3, 1),
                                   (1, 1, 1, 1)],
                         ids=["B1", "T1", "I1", "H1", "all1"])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_edge_shapes_match_reference(shape, reset_after, go_backwards):
    flags = _flags(reset_after=reset_after, go_backwards=go_backwards)
    seed = 400
    case = _make_case(seed, shape, reset_after=reset_after)
    _assert_matches_reference(case, flags, _context(seed, case, flags))


@pytest.mark.parametrize("steps", [6, 1], ids=["T6", "T1"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_step_by_step_gradients_match_reference(steps, go_backwards):
    # 32 rows of 16 units: each job's rows (16 on two threads, 32 on one) accumulate the
    # weight and bias gradients step by step (csrc/rnn.c, step_weight_gradients) and take
    # d_x at each step through W^T, packed past the first step's gate gradients. With one
    # step W^T has no room there, and d_x is one product after the time loop.
    flags = _flags(go_backwards=go_backwards)
    seed = 450
    case = _make_case(seed, (32, steps, 5, 16))
    _assert_matches_reference(case, flags, _context(seed, case, flags))


@pytest.mark.parametrize("reset_after", [True, False])
def test_long_sequence_matches_reference(reset_after):
    # T=1000 keeps the usual tolerances: the forward is contractive (sigmoid gates mix
    # the state with a bounded candidate), so float32 rounding does not compound over the
    # steps, and the parameter gradients' sums over B*T = 2000 rows stay near 1e-6 of
    # their scale (the bias, summed row by row, is the worst), well inside 1e-4. A
    # compounding or dropped term over the long recurrence would exceed it.
    flags = _flags(reset_after=reset_after)
    seed = 500
    case = _make_case(seed, (2, 1000, 3, 8), reset_after=reset_after)
    _assert_matches_reference(case, flags, _context(seed, case, flags))


# ------------------------------------------------------------------------------------
# 6. The gradient contract
# ------------------------------------------------------------------------------------


def _param_shapes(case):
    return {"kernel": case["kernel"].shape,
            "recurrent_kernel": case["recurrent_kernel"].shape,
            "bias": case["bias"].shape}


def _accumulators(case, rng=None):
    """float32 arrays of the parameters' shapes: random if rng is given, else zeros."""
    return {name: (np.zeros(shape, np.float32) if rng is None
                   else rng.standard_normal(shape).astype(np.float32))
            for name, shape in _param_shapes(case).items()}


def _backward_into(cache, case, acc):
    return ops.rnn_backward(cache, case["d_outputs"], case["d_last_state"],
                            d_kernel=acc["kernel"], d_recurrent_kernel=acc["recurrent_kernel"],
                            d_bias=acc["bias"])


@pytest.mark.parametrize("reset_after", [True, False])
def test_backward_adds_into_accumulators(reset_after):
    seed = 600
    case = _make_case(seed, reset_after=reset_after)
    flags = _flags(reset_after=reset_after)
    context = _context(seed, case, flags)
    out, fresh = _c_run(case, flags)

    acc = _accumulators(case, np.random.default_rng(seed))
    start = {name: a.copy() for name, a in acc.items()}
    grads = _backward_into(out.cache, case, acc)
    for name, a in acc.items():
        assert getattr(grads, name) is a, f"d_{name} must be the accumulator itself; {context}"
        # The core adds in float32 inside its GEMMs: equal up to that final rounding.
        assert_scaled(a, start[name] + getattr(fresh, name), f"accumulated d_{name}", context,
                       rtol=1e-6)
    # The same cache served a second backward: input gradients are unchanged.
    np.testing.assert_array_equal(grads.x, fresh.x, err_msg=context)
    np.testing.assert_array_equal(grads.initial_state, fresh.initial_state, err_msg=context)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("second_forward", [False, True])
def test_two_backwards_accumulate_twice(reset_after, second_forward):
    # Either one cache used for both backwards, or a second forward for the second.
    seed = 610
    case = _make_case(seed, reset_after=reset_after)
    flags = _flags(reset_after=reset_after)
    context = f"{_context(seed, case, flags)} second_forward={second_forward}"
    out, fresh = _c_run(case, flags)

    acc = _accumulators(case)
    _backward_into(out.cache, case, acc)
    if second_forward:
        out, _ = _c_run(case, flags)
    _backward_into(out.cache, case, acc)
    for name, a in acc.items():
        # 2x up to the rounding of adding the second sum onto the first in float32 (the
        # bias is summed row by row into the accumulator, so not bit-exactly 2x).
        assert_scaled(a, 2.0 * getattr(fresh, name), f"twice-accumulated d_{name}",
                       context, rtol=1e-6)


@pytest.mark.parametrize("use_accumulators", [False, True])
def test_input_gradients_are_fresh_arrays(use_accumulators):
    seed = 620
    case = _make_case(seed)
    flags = _flags()
    context = f"{_context(seed, case, flags)} use_accumulators={use_accumulators}"
    out, first = _c_run(case, flags)
    acc = _accumulators(case) if use_accumulators else {n: None for n in _param_shapes(case)}
    second = _backward_into(out.cache, case, acc)

    others = [case["x"], case["initial_state"], case["kernel"], case["recurrent_kernel"],
              case["bias"], case["d_outputs"], case["d_last_state"], first.x,
              first.initial_state, first.kernel, first.recurrent_kernel, first.bias]
    others += [a for a in acc.values() if a is not None]
    for name in ("x", "initial_state"):
        got = getattr(second, name)
        assert not any(np.shares_memory(got, other) for other in others), (
            f"d_{name} shares memory with an input or an earlier result; {context}")
    if not use_accumulators:
        for name in ("kernel", "recurrent_kernel", "bias"):
            assert not np.shares_memory(getattr(second, name), getattr(first, name)), (
                f"a fresh d_{name} shares memory with the previous call's; {context}")
            np.testing.assert_array_equal(getattr(second, name), getattr(first, name),
                                          err_msg=f"d_{name}; {context}")


@pytest.mark.parametrize("reset_after", [True, False])
def test_missing_upstream_gradients_act_as_zeros(reset_after):
    seed = 630
    case = _make_case(seed, reset_after=reset_after)
    flags = _flags(reset_after=reset_after)
    context = _context(seed, case, flags)
    out = ops.gru_forward(case["x"], case["kernel"], case["recurrent_kernel"], case["bias"],
                          case["initial_state"], **flags)
    zeros_out = np.zeros_like(case["d_outputs"])
    zeros_last = np.zeros_like(case["d_last_state"])
    pairs = [
        ((None, case["d_last_state"]), (zeros_out, case["d_last_state"])),
        ((case["d_outputs"], None), (case["d_outputs"], zeros_last)),
        ((None, None), (zeros_out, zeros_last)),
    ]
    for with_none, with_zeros in pairs:
        got = ops.rnn_backward(out.cache, *with_none)
        want = ops.rnn_backward(out.cache, *with_zeros)
        for name in GRADIENTS:
            np.testing.assert_array_equal(
                getattr(got, name), getattr(want, name),
                err_msg=f"d_{name} with (d_outputs, d_last_state) None in "
                        f"{[a is None for a in with_none]}; {context}")
    nothing = ops.rnn_backward(out.cache)
    for name in GRADIENTS:
        assert not np.any(getattr(nothing, name)), f"d_{name} without upstream; {context}"
    # And each upstream gradient alone is really used.
    assert np.any(ops.rnn_backward(out.cache, case["d_outputs"]).kernel), context
    assert np.any(ops.rnn_backward(out.cache, None, case["d_last_state"]).kernel), context


@pytest.mark.parametrize("bad", ["float64", "fortran", "readonly"])
def test_accumulator_that_cannot_be_updated_in_place_is_rejected(bad):
    # A silent conversion would write the gradient into a temporary copy and lose it.
    seed = 640
    case = _make_case(seed)
    out, _ = _c_run(case, _flags())
    shape = case["kernel"].shape
    accumulator = {
        "float64": np.zeros(shape),
        "fortran": np.zeros(shape, np.float32, order="F"),
        "readonly": np.zeros(shape, np.float32),
    }[bad]
    accumulator.flags.writeable = bad != "readonly"
    with pytest.raises(TypeError, match="d_kernel"):
        ops.rnn_backward(out.cache, case["d_outputs"], d_kernel=accumulator)
    assert not np.any(accumulator), f"rejected accumulator was modified; seed={seed} {bad}"


# ------------------------------------------------------------------------------------
# 7. Input conversion: dtypes and memory layouts
# ------------------------------------------------------------------------------------

ARGUMENTS = ("x", "kernel", "recurrent_kernel", "bias", "initial_state", "d_outputs",
             "d_last_state")


def _run_all(args, flags):
    """Forward and backward from a dict of ARGUMENTS, as one tuple of arrays."""
    out = ops.gru_forward(args["x"], args["kernel"], args["recurrent_kernel"], args["bias"],
                          args["initial_state"], **flags)
    grads = ops.rnn_backward(out.cache, args["d_outputs"], args["d_last_state"])
    return {"outputs": out.outputs, "last_state": out.last_state,
            **{f"d_{name}": getattr(grads, name) for name in GRADIENTS}}


def _assert_same_results(got, want, context):
    for name, arr in want.items():
        np.testing.assert_array_equal(got[name], arr, err_msg=f"{name}; {context}")
        assert got[name].dtype == np.float32, f"{name} dtype {got[name].dtype}; {context}"


def _typed_case(seed, dtype):
    """Every argument in dtype, with values that make sense for it."""
    rng = np.random.default_rng(seed)
    shapes = {name: np.shape(a) for name, a in _make_case(seed).items()}
    if dtype == np.float64:
        return {n: 0.5 * rng.standard_normal(s) for n, s in shapes.items()}
    if dtype == np.int32:
        return {n: rng.integers(-1, 2, s).astype(np.int32) for n, s in shapes.items()}
    return {n: rng.random(s) < 0.5 for n, s in shapes.items()}


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_])
@pytest.mark.parametrize("reset_after", [True, False])
def test_other_dtypes_equal_their_float32_cast(dtype, reset_after):
    seed = 700
    flags = _flags(reset_after=reset_after)
    args = _typed_case(seed, dtype)
    if not reset_after:
        args["bias"] = args["bias"][0]
    context = f"seed={seed} dtype={np.dtype(dtype)} shape B,T,I,H={SHAPE} {flags}"
    want = _run_all({n: a.astype(np.float32) for n, a in args.items()}, flags)
    _assert_same_results(_run_all(args, flags), want, context)


def _strided_views(case):
    """The case's arrays as non-contiguous views (slices, transposes, reversals)."""
    def strided(a, how):
        if how == "every_other_row":
            big = np.repeat(a, 2, axis=1 if a.ndim > 1 else 0)
            view = big[:, ::2] if a.ndim > 1 else big[::2]
        elif how == "transposed":
            view = np.ascontiguousarray(a.T).T
        else:  # reversed along the last axis, twice: a negative-stride view of a
            view = np.ascontiguousarray(a[..., ::-1])[..., ::-1]
        assert not view.flags.c_contiguous and np.array_equal(view, a)
        return view

    layouts = {"x": "every_other_row", "kernel": "transposed",
               "recurrent_kernel": "reversed", "bias": "every_other_row",
               "initial_state": "transposed", "d_outputs": "reversed",
               "d_last_state": "transposed"}
    return {name: strided(case[name], how) for name, how in layouts.items()}


@pytest.mark.parametrize("reset_after", [True, False])
def test_non_contiguous_inputs_equal_contiguous_copies(reset_after):
    seed = 710
    case = _make_case(seed, reset_after=reset_after)
    flags = _flags(reset_after=reset_after, go_backwards=True)
    context = _context(seed, case, flags)
    views = _strided_views(case)
    want = _run_all({n: np.ascontiguousarray(a) for n, a in views.items()}, flags)
    _assert_same_results(_run_all(views, flags), want, context)
