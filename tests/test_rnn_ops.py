"""Numerical tests of the recurrent ops beyond the plain GRU: gru_py.ops.lstm_forward and
simple_rnn_forward, masks and dropout masks for all three kinds (gru_forward included),
rnn_backward and gate_activations (the C core through NumPy).

Oracles: the PyTorch known-answer vectors in tests/data/rnn_torch_vectors.npz (written by
tests/data/make_torch_vectors_rnn.py: nn.LSTM, nn.RNN tanh/relu, and right-padded masked
batches of all three kinds through pack_padded_sequence), and the float64 NumPy reference
in tests/reference.py: its forwards, and central differences of them for every gradient.

Semantics under test (Keras 3, the implementation=1 cells; API_SPEC §1.4-1.5):
- mask (B, T), True = use the step. A masked step carries the state(s) unchanged; its
  output is the previous step's output (zeros before the row's first used step), or
  zeros with zero_output_for_mask. With go_backwards processing step k reads mask column
  T-1-k, like the input; outputs are in processing order.
- dropout_mask (B, I) or (G, B, I), recurrent_dropout_mask (B, H) or (G, B, H), G = 3 GRU
  [z, r, h], 4 LSTM [i, f, c, o], 1 SimpleRNN: multipliers of the input and of the state
  where they enter a gate's matmul, applied whenever given; the GRU update z * h_prev and
  the LSTM carry f * c_prev use the undropped values.
- Masked steps contribute nothing to any gradient; d_x at a masked step is zero.
- gate_activations(cache): (B, T, H) arrays in processing order, GRU z, r, h; LSTM i, f,
  o, c, h; SimpleRNN h, where h (and c) are the states after each step. At masked steps
  the gates read NaN and the states their carried values (ops.gate_activations' doc).

Dimension letters: B batch, T timesteps, I input features, H units, G gates. I != H in
every case, so that an input-sized array passed where a state-sized one belongs fails.

Tolerances (tests/assertions.py, as for the GRU in test_gru_ops.py). The core computes in
float32 (about 6e-8 relative rounding per operation): forward values within 1e-5
absolute of the float64 reference; gradients within 1e-4 relative to each array's scale
(atol = 1e-4 * max|want|), because entries small only through cancellation carry the
rounding of the large ones. The central differences they are compared with are float64
with eps = 1e-6, accurate to about 1e-9 of the scale, so the comparison measures the
float32 backward alone, while any wrong or missing term (an O(scale) error) still fails.
"""

import itertools

import numpy as np
import pytest
import reference as ref
import rnn_vectors
from assertions import (
    KINK_MARGIN,
    SEED_TRIES,
    UNBOUNDED,
    assert_abs,
    assert_float32,
    assert_scaled,
    kink_distance,
)

from gru_py import ops

KINDS = ("gru", "lstm", "simple_rnn")
FORWARDS = {"gru": "gru_forward", "lstm": "lstm_forward", "simple_rnn": "simple_rnn_forward"}
# gate_activations' keys: gates, and the states after each step ("h", LSTM "c").
GATE_KEYS = {"gru": {"z", "r", "h"}, "lstm": {"i", "f", "o", "c", "h"}, "simple_rnn": {"h"}}
STATE_KEYS = {"h", "c"}
# (kind, options that select the variant): the GRU both ways round its reset gate.
# Parametrized as "kind,variant_options".
VARIANTS = [
    pytest.param("gru", {"reset_after": True}, id="gru"),
    pytest.param("gru", {"reset_after": False}, id="gru_reset_before"),
    pytest.param("lstm", {}, id="lstm"),
    pytest.param("simple_rnn", {}, id="simple_rnn"),
]

SHAPE = (2, 4, 3, 5)  # B, T, I, H of the option grids
MASK_SHAPE = (4, 5, 2, 3)  # one batch row per kind of padding
# (4, 5) masks; True = use the step.
MASKS = {
    "right_padded": [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0]],
    "left_padded": [[0, 0, 1, 1, 1], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]],
    "mixed": [[1, 0, 1, 1, 0], [0, 1, 0, 0, 1], [1, 1, 0, 1, 1], [0, 0, 1, 0, 1]],
    "some_rows_empty": [[0, 0, 0, 0, 0], [1, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 0, 1, 1, 1]],
    "all_empty": [[0] * 5] * 4,
}
MASKS = {name: np.array(rows, dtype=bool) for name, rows in MASKS.items()}
DROPOUT_RATE = 0.3

# (activation, recurrent_activation) of the LSTM grid: every activation, and None
# (linear), appears in both positions, but relu as the activation only in
# test_lstm_relu_activation_matches_reference: from a zero carry, relu(pre_c) = 0 gives
# c = f * c0 = 0, right on relu's kink as a function of c0, whatever the seed.
LSTM_ACTIVATIONS = [
    ("tanh", "sigmoid"),
    ("hard_sigmoid", "hard_sigmoid"),
    (None, "sigmoid"),
    ("sigmoid", "tanh"),
    ("tanh", "relu"),
    ("hard_sigmoid", None),
]
SIMPLE_RNN_ACTIVATIONS = ["tanh", "relu", "sigmoid", "hard_sigmoid", None]


# ------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------


def _gradient_names(kind):
    names = ("x", "initial_state", "kernel", "recurrent_kernel", "bias")
    return names + ("initial_carry",) if kind == "lstm" else names


def _input_gradient_names(kind):
    """The gradients that are written, not accumulated."""
    return ("x", "initial_state", "initial_carry") if kind == "lstm" else ("x", "initial_state")


def _make_case(kind, seed, shape=SHAPE, *, reset_after=True, use_bias=True,
               use_initial_state=True, weight_scale=0.5):
    """Random float32 inputs, weights and upstream gradients of shape (B, T, I, H)."""
    rng = np.random.default_rng(seed)
    b, t, i, h = shape
    width = ref.GATES[kind] * h

    def normal(size, scale=1.0):
        return (scale * rng.standard_normal(size)).astype(np.float32)

    bias_shape = (2, width) if kind == "gru" and reset_after else (width,)
    case = {
        "x": normal((b, t, i)),
        "kernel": normal((i, width), weight_scale),
        "recurrent_kernel": normal((h, width), weight_scale),
        "bias": normal(bias_shape, weight_scale) if use_bias else None,
        "initial_state": None,
        "d_outputs": normal((b, t, h)),
        "d_last_state": normal((b, h)),
        "d_last_carry": normal((b, h)) if kind == "lstm" else None,
    }
    if use_initial_state:
        h0 = normal((b, h), 0.5)
        case["initial_state"] = (h0, normal((b, h), 0.5)) if kind == "lstm" else h0
    return case


def _variant_case(kind, seed, variant_options, shape=SHAPE):
    """A _make_case for a VARIANTS entry (the GRU's bias follows reset_after)."""
    return _make_case(kind, seed, shape, reset_after=variant_options.get("reset_after", True))


def _dropout_masks(kind, seed, shape, input_form, recurrent_form):
    """float32 dropout multipliers (0 or 1/(1-rate)) in the given forms.

    Forms: "none", "shared" ((B, I) or (B, H)), "per_gate" ((G, B, I) or (G, B, H)).
    """
    rng = np.random.default_rng(seed)
    b, _, i, h = shape
    gates = ref.GATES[kind]

    def draw(form, width):
        if form == "none":
            return None
        size = (b, width) if form == "shared" else (gates, b, width)
        keep = rng.random(size) >= DROPOUT_RATE
        # Both values must occur, else the mask tests nothing (or everything).
        keep.flat[0], keep.flat[-1] = False, True
        return (keep / (1.0 - DROPOUT_RATE)).astype(np.float32)

    return {"dropout_mask": draw(input_form, i),
            "recurrent_dropout_mask": draw(recurrent_form, h)}


def _ref_options(options):
    """The reference spells linear "linear" only; ops also accepts None."""
    return {k: ("linear" if v is None and k.endswith("activation") else v)
            for k, v in options.items()}


def _forward(kind, case, options, **flags):
    forward = getattr(ops, FORWARDS[kind])
    return forward(case["x"], case["kernel"], case["recurrent_kernel"], case["bias"],
                   case["initial_state"], **options, **flags)


def _backward(out, case, **accumulators):
    return ops.rnn_backward(out.cache, case["d_outputs"], case["d_last_state"],
                            case["d_last_carry"], **accumulators)


def _reference_trace(kind, case, options):
    return ref.rnn_trace(kind, case["x"], case["kernel"], case["recurrent_kernel"],
                         case["bias"], case["initial_state"], **_ref_options(options))


def _reference_gradients(kind, case, options):
    return ref.rnn_numerical_gradients(
        kind, case["x"], case["kernel"], case["recurrent_kernel"], case["bias"],
        case["initial_state"], case["d_outputs"], case["d_last_state"], case["d_last_carry"],
        **_ref_options(options))


def _kink_distance(kind, case, options):
    """Smallest distance of any pre-activation to a kink of its activation (reference)."""
    opts = _ref_options(options)
    act = opts.get("activation", "tanh")
    rec = opts.get("recurrent_activation", "sigmoid")
    owners = {
        "gru": {"pre_z": rec, "pre_r": rec, "pre_hh": act},
        # The LSTM applies its activation to the candidate and to the carry.
        "lstm": {"pre_i": rec, "pre_f": rec, "pre_o": rec, "pre_c": act, "c": act},
        "simple_rnn": {"pre_h": act},
    }[kind]
    return kink_distance(owners, lambda: _reference_trace(kind, case, options))


def _smooth_case(kind, base_seed, options, shape=SHAPE, **case_options):
    """The first case from seeds base_seed, base_seed + 1, ... that stays off the kinks."""
    # Unbounded activations let the state (or the LSTM's gates) grow step by step and
    # amplify float32 rounding with it; small weights keep the values O(1), where the
    # absolute forward tolerance is meaningful.
    if (options.get("recurrent_activation", "sigmoid") in UNBOUNDED
            or (kind == "simple_rnn" and options.get("activation", "tanh") in UNBOUNDED)):
        case_options.setdefault("weight_scale", 0.2)
    for seed in range(base_seed, base_seed + SEED_TRIES):
        case = _make_case(kind, seed, shape, reset_after=options.get("reset_after", True),
                          **case_options)
        if _kink_distance(kind, case, options) > KINK_MARGIN:
            return seed, case
    raise AssertionError(f"no seed in {base_seed}..{base_seed + SEED_TRIES - 1} avoids the "
                         f"kinks for {kind} shape {shape}, {options}")


def _context(kind, seed, case, options, **more):
    b, t, i = case["x"].shape
    h = case["recurrent_kernel"].shape[0]
    shown = {k: v for k, v in options.items() if not isinstance(v, np.ndarray)}
    shown.update({k: f"{v.shape}" for k, v in options.items() if isinstance(v, np.ndarray)})
    return (f"{kind} seed={seed} B,T,I,H={b},{t},{i},{h} use_bias={case['bias'] is not None} "
            f"initial_state={case['initial_state'] is not None} {shown} {more}")


def _assert_matches_reference(kind, case, options, context):
    """Forward and backward of the core against the reference and its central differences."""
    out = _forward(kind, case, options)
    grads = _backward(out, case)
    trace = _reference_trace(kind, case, options)
    want = _reference_gradients(kind, case, options)

    assert_abs(out.outputs, trace["outputs"], "outputs", context)
    assert_abs(out.last_state, trace["last_state"], "last_state", context)
    if kind == "lstm":
        assert_abs(out.last_carry, trace["last_carry"], "last_carry", context)
    else:
        assert out.last_carry is None, f"last_carry should be None; {context}"
        assert grads.initial_carry is None, f"d_initial_carry should be None; {context}"
    for name in _gradient_names(kind):
        if want[name] is None:
            assert getattr(grads, name) is None, f"d_{name} should be None; {context}"
        else:
            assert_scaled(getattr(grads, name), want[name], f"d_{name}", context)
    return out, grads


# ------------------------------------------------------------------------------------
# 1. PyTorch known-answer vectors
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", rnn_vectors.NAMES)
def test_matches_pytorch_vectors(name):
    kind, v, initial_state, options = rnn_vectors.case(name)
    if initial_state is None:
        # torch ran from zero states; None must mean exactly that.
        assert not np.any(v["h0"]) and not np.any(v.get("c0", 0)), name
    context = f"torch case {name!r} x shape {v['x'].shape} {kind} {options}"

    out = getattr(ops, FORWARDS[kind])(v["x"], v["kernel"], v["recurrent_kernel"], v["bias"],
                                       initial_state, **options)
    grads = ops.rnn_backward(out.cache, v["d_outputs"], v["d_last_state"],
                             v.get("d_last_carry"))

    assert_abs(out.outputs, v["outputs"], "outputs", context)
    assert_abs(out.last_state, v["last_state"], "last_state", context)
    pairs = [(grads.x, "d_x"), (grads.initial_state, "d_h0"), (grads.kernel, "d_kernel"),
             (grads.recurrent_kernel, "d_recurrent_kernel"), (grads.bias, "d_bias")]
    if kind == "lstm":
        assert_abs(out.last_carry, v["last_carry"], "last_carry", context)
        pairs.append((grads.initial_carry, "d_c0"))
    for got, key in pairs:
        assert_scaled(got, v[key], key, context)


# ------------------------------------------------------------------------------------
# 2. LSTM and SimpleRNN against the float64 reference over the option grid
# ------------------------------------------------------------------------------------

FLAG_GRID = list(itertools.product([True, False], repeat=3))


@pytest.mark.parametrize("activation,recurrent_activation", LSTM_ACTIVATIONS)
@pytest.mark.parametrize("use_bias,use_initial_state,go_backwards", FLAG_GRID)
def test_lstm_matches_reference(activation, recurrent_activation, use_bias,
                                use_initial_state, go_backwards):
    options = {"activation": activation, "recurrent_activation": recurrent_activation,
               "go_backwards": go_backwards}
    seed, case = _smooth_case("lstm", 100, options, (2, 3, 3, 4), use_bias=use_bias,
                              use_initial_state=use_initial_state)
    _assert_matches_reference("lstm", case, options, _context("lstm", seed, case, options))


@pytest.mark.parametrize("recurrent_activation", ["sigmoid", "hard_sigmoid"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_relu_activation_matches_reference(recurrent_activation, go_backwards):
    # Non-zero initial states keep the carry, and so relu(c), off the kink.
    options = {"activation": "relu", "recurrent_activation": recurrent_activation,
               "go_backwards": go_backwards}
    seed, case = _smooth_case("lstm", 150, options, (2, 3, 3, 4))
    _assert_matches_reference("lstm", case, options, _context("lstm", seed, case, options))


@pytest.mark.parametrize("activation", SIMPLE_RNN_ACTIVATIONS)
@pytest.mark.parametrize("use_bias,use_initial_state,go_backwards", FLAG_GRID)
def test_simple_rnn_matches_reference(activation, use_bias, use_initial_state, go_backwards):
    options = {"activation": activation, "go_backwards": go_backwards}
    seed, case = _smooth_case("simple_rnn", 200, options, use_bias=use_bias,
                              use_initial_state=use_initial_state)
    _assert_matches_reference("simple_rnn", case, options,
                              _context("simple_rnn", seed, case, options))


@pytest.mark.parametrize("kind", ["lstm", "simple_rnn"])
@pytest.mark.parametrize("shape", [(1, 4, 3, 5), (2, 1, 3, 5), (2, 4, 1, 5), (2, 4, 3, 1),
                                   (1, 1, 1, 1)],
                         ids=["B1", "T1", "I1", "H1", "all1"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_edge_shapes_match_reference(kind, shape, go_backwards):
    options = {"go_backwards": go_backwards}
    seed = 300
    case = _make_case(kind, seed, shape)
    _assert_matches_reference(kind, case, options, _context(kind, seed, case, options))


@pytest.mark.parametrize("kind,variant_options", VARIANTS)
@pytest.mark.parametrize("masked", [False, True])
def test_return_sequences_and_training_flags(kind, variant_options, masked):
    seed = 310
    case = _variant_case(kind, seed, variant_options, MASK_SHAPE)
    options = dict(variant_options, go_backwards=True)
    if masked:
        options["mask"] = MASKS["mixed"]
    context = _context(kind, seed, case, options)
    full = _forward(kind, case, options)
    assert full.cache is not None, context

    last_only = _forward(kind, case, options, return_sequences=False)
    assert last_only.outputs is None, context
    assert last_only.cache is not None, context
    np.testing.assert_array_equal(last_only.last_state, full.last_state, err_msg=context)
    if kind == "lstm":
        np.testing.assert_array_equal(last_only.last_carry, full.last_carry, err_msg=context)
    # Without outputs, only the last states feed the backward: the same gradients.
    want = ops.rnn_backward(full.cache, None, case["d_last_state"], case["d_last_carry"])
    got = ops.rnn_backward(last_only.cache, None, case["d_last_state"], case["d_last_carry"])
    for name in _gradient_names(kind):
        assert_scaled(getattr(got, name), getattr(want, name), f"d_{name} (last state only)",
                      context, rtol=1e-6)

    # Inference runs the same float32 arithmetic in the same order, only into reused
    # buffers, so its results are identical, not merely close.
    inference = _forward(kind, case, options, training=False)
    assert inference.cache is None, context
    np.testing.assert_array_equal(inference.outputs, full.outputs, err_msg=context)
    np.testing.assert_array_equal(inference.last_state, full.last_state, err_msg=context)
    if kind == "lstm":
        np.testing.assert_array_equal(inference.last_carry, full.last_carry, err_msg=context)


@pytest.mark.parametrize("kind", ["lstm", "simple_rnn"])
def test_long_sequence_matches_reference(kind):
    # T=300: the forward must not drift from the float64 reference (the gated LSTM
    # is contractive and the tanh SimpleRNN bounded, so float32 rounding does not
    # compound), and the gradients are checked along random directions, one central
    # difference per array: d/de L(p + e v) = <dL/dp, v>, within 1e-4 of sum|dL/dp||v|.
    seed = 320
    case = _make_case(kind, seed, (2, 300, 3, 8), weight_scale=0.3)
    options = {"mask": np.arange(300)[None] < np.array([[300], [170]])}
    context = _context(kind, seed, case, options)
    out = _forward(kind, case, options)
    grads = _backward(out, case)
    trace = _reference_trace(kind, case, options)
    assert_abs(out.outputs, trace["outputs"], "outputs", context)
    assert_abs(out.last_state, trace["last_state"], "last_state", context)

    params = {"x": case["x"], "kernel": case["kernel"],
              "recurrent_kernel": case["recurrent_kernel"], "bias": case["bias"]}
    if kind == "lstm":
        params["initial_state"], params["initial_carry"] = case["initial_state"]
    else:
        params["initial_state"] = case["initial_state"]
    params = {name: a.astype(np.float64) for name, a in params.items()}
    rng = np.random.default_rng(seed)
    eps = 1e-6
    for name, array in params.items():
        direction = rng.standard_normal(array.shape)

        def loss(step, name=name, direction=direction):
            moved = dict(params, **{name: params[name] + step * direction})
            state = ((moved["initial_state"], moved["initial_carry"]) if kind == "lstm"
                     else moved["initial_state"])
            t = ref.rnn_trace(kind, moved["x"], moved["kernel"], moved["recurrent_kernel"],
                              moved["bias"], state, **options)
            total = np.sum(t["outputs"] * case["d_outputs"])
            total += np.sum(t["last_state"] * case["d_last_state"])
            if kind == "lstm":
                total += np.sum(t["last_carry"] * case["d_last_carry"])
            return total

        numeric = (loss(eps) - loss(-eps)) / (2 * eps)
        got = getattr(grads, name).astype(np.float64)
        scale = float(np.sum(np.abs(got * direction)))
        assert abs(float(np.sum(got * direction)) - numeric) <= 1e-4 * scale, (
            f"d_{name} along a random direction: {np.sum(got * direction)} vs central "
            f"difference {numeric} (scale {scale:.3g}); {context}")


# ------------------------------------------------------------------------------------
# 3. Masks
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,variant_options", VARIANTS)
@pytest.mark.parametrize("pattern", list(MASKS))
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masks_match_reference(kind, variant_options, pattern, zero_output_for_mask,
                               go_backwards):
    mask = MASKS[pattern]
    options = dict(variant_options, mask=mask, zero_output_for_mask=zero_output_for_mask,
                   go_backwards=go_backwards)
    seed = 400
    case = _variant_case(kind, seed, variant_options, MASK_SHAPE)
    context = _context(kind, seed, case, options, pattern=pattern)
    out, grads = _assert_matches_reference(kind, case, options, context)

    # Beyond closeness, what masking guarantees exactly:
    # - a masked step's input reaches nothing;
    assert not np.any(grads.x[~mask]), f"d_x is not zero at masked steps; {context}"
    # - a row that uses no step outputs zeros and keeps its initial state;
    empty = ~mask.any(axis=1)
    np.testing.assert_array_equal(out.outputs[empty], 0.0, err_msg=context)
    initial = case["initial_state"] if kind == "lstm" else (case["initial_state"],)
    finals = (out.last_state, out.last_carry) if kind == "lstm" else (out.last_state,)
    for final, start in zip(finals, initial):
        np.testing.assert_array_equal(final[empty], start[empty], err_msg=context)
    # - with zero_output_for_mask, every masked step outputs zeros (processing order).
    if zero_output_for_mask:
        in_processing_order = mask[:, ::-1] if go_backwards else mask
        np.testing.assert_array_equal(out.outputs[~in_processing_order], 0.0, err_msg=context)
    # - and with nothing used at all, no parameter has a gradient.
    if pattern == "all_empty":
        for name in ("kernel", "recurrent_kernel", "bias"):
            assert not np.any(getattr(grads, name)), f"d_{name} of an empty batch; {context}"


@pytest.mark.parametrize("kind", KINDS)
def test_none_mask_equals_all_true_mask(kind):
    seed = 410
    case = _make_case(kind, seed, MASK_SHAPE)
    options = {"go_backwards": True}
    context = _context(kind, seed, case, options)
    plain = _forward(kind, case, options)
    plain_grads = _backward(plain, case)
    for zero_output_for_mask in (False, True):
        masked = _forward(kind, case, options, mask=np.ones(MASK_SHAPE[:2], bool),
                          zero_output_for_mask=zero_output_for_mask)
        masked_grads = _backward(masked, case)
        assert_abs(masked.outputs, plain.outputs, "outputs", context, atol=1e-6)
        assert_abs(masked.last_state, plain.last_state, "last_state", context, atol=1e-6)
        for name in _gradient_names(kind):
            assert_scaled(getattr(masked_grads, name), getattr(plain_grads, name),
                          f"d_{name}", context, rtol=1e-6)


# ------------------------------------------------------------------------------------
# 4. Dropout masks
# ------------------------------------------------------------------------------------

DROPOUT_FORMS = [(i, r) for i in ("none", "shared", "per_gate")
                 for r in ("none", "shared", "per_gate") if (i, r) != ("none", "none")]


@pytest.mark.parametrize("kind,variant_options", VARIANTS)
@pytest.mark.parametrize("input_form,recurrent_form", DROPOUT_FORMS)
def test_dropout_masks_match_reference(kind, variant_options, input_form, recurrent_form):
    seed = 500
    case = _variant_case(kind, seed, variant_options)
    options = dict(variant_options,
                   **_dropout_masks(kind, seed, SHAPE, input_form, recurrent_form))
    context = _context(kind, seed, case, options, forms=(input_form, recurrent_form))
    _assert_matches_reference(kind, case, options, context)


@pytest.mark.parametrize("kind,variant_options", VARIANTS)
def test_masks_dropout_and_go_backwards_together(kind, variant_options):
    seed = 510
    case = _variant_case(kind, seed, variant_options, MASK_SHAPE)
    options = dict(variant_options, mask=MASKS["mixed"], go_backwards=True,
                   **_dropout_masks(kind, seed, MASK_SHAPE, "per_gate", "per_gate"))
    _assert_matches_reference(kind, case, options, _context(kind, seed, case, options))


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_masks_apply_in_inference_too(kind):
    # The masks are multipliers, applied whenever given: choosing whether to drop out is
    # the caller's (the layer's) business, not the op's.
    seed = 520
    case = _make_case(kind, seed)
    options = _dropout_masks(kind, seed, SHAPE, "per_gate", "shared")
    context = _context(kind, seed, case, options)
    training = _forward(kind, case, options)
    inference = _forward(kind, case, options, training=False)
    plain = _forward(kind, case, {}, training=False)
    np.testing.assert_array_equal(inference.outputs, training.outputs, err_msg=context)
    assert np.max(np.abs(inference.outputs - plain.outputs)) > 1e-3, (
        f"the dropout masks changed nothing; {context}")


# ------------------------------------------------------------------------------------
# 5. gate_activations
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,variant_options", VARIANTS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gate_activations_match_reference(kind, variant_options, go_backwards):
    seed = 600
    case = _variant_case(kind, seed, variant_options)
    options = dict(variant_options, go_backwards=go_backwards)
    context = _context(kind, seed, case, options)
    out = _forward(kind, case, options)
    gates = ops.gate_activations(out.cache)
    trace = _reference_trace(kind, case, options)

    assert set(gates) == GATE_KEYS[kind], f"keys {sorted(gates)}; {context}"
    for key, got in gates.items():
        # Values in processing order, like the outputs.
        assert_abs(got, trace[key], f"gate {key!r}", context)
    np.testing.assert_array_equal(gates["h"], out.outputs, err_msg=context)
    if kind == "lstm":
        np.testing.assert_array_equal(gates["c"][:, -1], out.last_carry, err_msg=context)


@pytest.mark.parametrize("kind,variant_options", VARIANTS)
def test_gate_activations_with_masks_and_dropout(kind, variant_options):
    # At the steps a row uses, the gates are those of the dropped-out inputs and states.
    # At masked steps no gate was applied (NaN) and the states hold their carried values.
    seed = 610
    case = _variant_case(kind, seed, variant_options, MASK_SHAPE)
    mask = MASKS["mixed"]
    options = dict(variant_options, mask=mask, go_backwards=True,
                   **_dropout_masks(kind, seed, MASK_SHAPE, "per_gate", "shared"))
    context = _context(kind, seed, case, options)
    gates = ops.gate_activations(_forward(kind, case, options).cache)
    trace = _reference_trace(kind, case, options)
    used = mask[:, ::-1]  # processing order
    assert set(gates) == GATE_KEYS[kind], f"keys {sorted(gates)}; {context}"
    for key, got in gates.items():
        if key in STATE_KEYS:
            assert_abs(got, trace[key], f"state {key!r}", context)
        else:
            assert_float32(got, trace[key].shape, f"gate {key!r}", context)
            assert_abs(got[used], trace[key][used], f"gate {key!r} at used steps", context)
            assert np.all(np.isnan(got[~used])), f"gate {key!r} at masked steps; {context}"


# ------------------------------------------------------------------------------------
# 6. The gradient contract
# ------------------------------------------------------------------------------------


def _accumulators(case, rng=None):
    """float32 arrays of the parameters' shapes: random if rng is given, else zeros."""
    shapes = {name: case[name].shape for name in ("kernel", "recurrent_kernel", "bias")}
    return {name: (np.zeros(shape, np.float32) if rng is None
                   else rng.standard_normal(shape).astype(np.float32))
            for name, shape in shapes.items()}


def _backward_into(out, case, acc):
    return _backward(out, case, d_kernel=acc["kernel"],
                     d_recurrent_kernel=acc["recurrent_kernel"], d_bias=acc["bias"])


@pytest.mark.parametrize("kind", KINDS)
def test_backward_adds_into_accumulators(kind):
    seed = 700
    case = _make_case(kind, seed, MASK_SHAPE)
    options = {"mask": MASKS["mixed"]}
    context = _context(kind, seed, case, options)
    out = _forward(kind, case, options)
    fresh = _backward(out, case)

    acc = _accumulators(case, np.random.default_rng(seed))
    start = {name: a.copy() for name, a in acc.items()}
    grads = _backward_into(out, case, acc)
    for name, a in acc.items():
        assert getattr(grads, name) is a, f"d_{name} must be the accumulator itself; {context}"
        # The core adds in float32: equal up to that final rounding.
        assert_scaled(a, start[name] + getattr(fresh, name), f"accumulated d_{name}",
                      context, rtol=1e-6)
    # The same cache served a second backward: input gradients are unchanged.
    for name in _input_gradient_names(kind):
        np.testing.assert_array_equal(getattr(grads, name), getattr(fresh, name),
                                      err_msg=f"d_{name}; {context}")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("second_forward", [False, True])
def test_two_backwards_accumulate_twice(kind, second_forward):
    # Either one cache used for both backwards, or a second forward for the second.
    seed = 710
    case = _make_case(kind, seed)
    options = _dropout_masks(kind, seed, SHAPE, "shared", "per_gate")
    context = f"{_context(kind, seed, case, options)} second_forward={second_forward}"
    out = _forward(kind, case, options)
    fresh = _backward(out, case)

    acc = _accumulators(case)
    _backward_into(out, case, acc)
    if second_forward:
        out = _forward(kind, case, options)
    _backward_into(out, case, acc)
    for name, a in acc.items():
        assert_scaled(a, 2.0 * getattr(fresh, name), f"twice-accumulated d_{name}", context,
                      rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_input_gradients_are_fresh_arrays(kind):
    seed = 720
    case = _make_case(kind, seed)
    context = _context(kind, seed, case, {})
    out = _forward(kind, case, {})
    first = _backward(out, case)
    acc = _accumulators(case)
    second = _backward_into(out, case, acc)

    inputs = [case[name] for name in ("x", "kernel", "recurrent_kernel", "bias", "d_outputs",
                                      "d_last_state", "d_last_carry") if case[name] is not None]
    inputs += list(case["initial_state"]) if kind == "lstm" else [case["initial_state"]]
    earlier = [getattr(first, name) for name in _gradient_names(kind)]
    for name in _input_gradient_names(kind):
        got = getattr(second, name)
        assert not any(np.shares_memory(got, other)
                       for other in inputs + earlier + list(acc.values())), (
            f"d_{name} shares memory with an input or an earlier result; {context}")


@pytest.mark.parametrize("kind", KINDS)
def test_missing_upstream_gradients_act_as_zeros(kind):
    seed = 730
    case = _make_case(kind, seed)
    context = _context(kind, seed, case, {})
    out = _forward(kind, case, {})
    upstream = {"d_outputs": case["d_outputs"], "d_last_state": case["d_last_state"]}
    if kind == "lstm":
        upstream["d_last_carry"] = case["d_last_carry"]
    for missing in upstream:
        with_none = dict(upstream, **{missing: None})
        with_zeros = dict(upstream, **{missing: np.zeros_like(upstream[missing])})
        got = ops.rnn_backward(out.cache, **with_none)
        want = ops.rnn_backward(out.cache, **with_zeros)
        for name in _gradient_names(kind):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name),
                                          err_msg=f"d_{name} with {missing}=None; {context}")
        # And each upstream gradient alone is really used.
        alone = ops.rnn_backward(out.cache, **{missing: upstream[missing]})
        assert np.any(alone.kernel), f"{missing} alone gave no d_kernel; {context}"
    nothing = ops.rnn_backward(out.cache)
    for name in _gradient_names(kind):
        assert not np.any(getattr(nothing, name)), f"d_{name} without upstream; {context}"


@pytest.mark.parametrize("kind,variant_options", VARIANTS)
def test_without_input_gradient_the_other_gradients_are_unchanged(kind, variant_options):
    # A mask and per-gate input dropout: the paths of the skipped input product that
    # differ most from the plain one.
    seed = 740
    case = _variant_case(kind, seed, variant_options, MASK_SHAPE)
    options = dict(variant_options, mask=MASKS["mixed"],
                   **_dropout_masks(kind, seed, MASK_SHAPE, "per_gate", "shared"))
    context = _context(kind, seed, case, options)
    out = _forward(kind, case, options)
    full = _backward(out, case)
    without = _backward(out, case, input_gradient=False)
    assert full.x is not None and without.x is None, context
    for name in _gradient_names(kind)[1:]:
        np.testing.assert_array_equal(getattr(without, name), getattr(full, name),
                                      err_msg=f"d_{name} without the input gradient; {context}")
    with pytest.raises(TypeError, match="input_gradient must be a bool"):
        _backward(out, case, input_gradient=1)


# ------------------------------------------------------------------------------------
# 7. Bad arguments
# ------------------------------------------------------------------------------------


def _raises_naming(name, kind, case, options, errors=ValueError):
    # "dropout_mask" must not be satisfied by a message about "recurrent_dropout_mask".
    pattern = rf"(?<!recurrent_){name}" if name == "dropout_mask" else name
    with pytest.raises(errors, match=pattern):
        _forward(kind, case, options)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_mask_shapes_raise(kind):
    b, t, _, _ = SHAPE
    case = _make_case(kind, 800)
    for shape in [(b, t + 1), (b + 1, t), (t,), (b, t, 2), (t, b)]:
        _raises_naming("mask", kind, case, {"mask": np.ones(shape, bool)})


@pytest.mark.parametrize("kind", KINDS)
def test_bad_dropout_mask_shapes_raise(kind):
    b, _, i, h = SHAPE
    gates = ref.GATES[kind]
    case = _make_case(kind, 810)
    for shape in [(b, i + 1), (b + 1, i), (b, h), (gates + 1, b, i), (gates, b, h), (i,)]:
        _raises_naming("dropout_mask", kind, case,
                       {"dropout_mask": np.ones(shape, np.float32)})
    for shape in [(b, h + 1), (b, i), (gates + 1, b, h), (gates, b + 1, h), (h,)]:
        _raises_naming("recurrent_dropout_mask", kind, case,
                       {"recurrent_dropout_mask": np.ones(shape, np.float32)})


def test_lstm_initial_state_must_be_a_pair():
    # B=3, so that a (B, H) array cannot pass for a pair of rows either.
    case = _make_case("lstm", 820, (3, 4, 3, 5))
    h0, c0 = case["initial_state"]
    for bad in [h0, (h0,), (h0, c0, c0), [h0, c0, h0]]:
        _raises_naming("initial_state", "lstm", dict(case, initial_state=bad), {},
                       errors=(ValueError, TypeError))


@pytest.mark.parametrize("upstream", ["d_outputs", "d_last_state"])
def test_check_finite_false_lets_overflowed_gradients_through(upstream):
    """By default NaN or Inf upstream gradients are rejected, naming the argument; with
    check_finite=False (what the layers pass for a diverging model) they flow into NaN
    gradients instead, and the finite part of a batch keeps finite gradients."""
    rng = np.random.default_rng(3)
    B, T, I, H = 3, 4, 2, 5
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    kernel = rng.standard_normal((I, 3 * H)).astype(np.float32)
    recurrent = rng.standard_normal((H, 3 * H)).astype(np.float32)
    out = ops.gru_forward(x, kernel, recurrent)
    grad = np.ones((B, T, H) if upstream == "d_outputs" else (B, H), np.float32)
    grad[0] = np.inf
    with pytest.raises(ValueError, match=upstream):
        ops.rnn_backward(out.cache, **{upstream: grad})
    grads = ops.rnn_backward(out.cache, **{upstream: grad}, check_finite=False)
    assert not np.isfinite(grads.kernel).all()
    assert not np.isfinite(grads.x[0]).all() and np.isfinite(grads.x[1:]).all()


def _single_step(kind, batch, rng, scale=0.1):
    """A one-step call's arrays, big enough to run on two threads."""
    I, H = 150, 128
    gates = {"gru": 3, "lstm": 4, "simple_rnn": 1}[kind]
    return {"x": rng.standard_normal((batch, 1, I)).astype(np.float32),
            "kernel": (rng.standard_normal((I, gates * H)) * scale).astype(np.float32),
            "recurrent_kernel": (rng.standard_normal((H, gates * H)) * scale).astype(np.float32),
            "bias": None}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", ["kernel", "recurrent_kernel"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("skipped", [False, True])
def test_a_single_steps_nonfinite_weights_are_reported(kind, batch, name, value, skipped):
    """An inference step checks its kernels through its products instead of scanning them
    (csrc/gru_py.h): a NaN or Inf is still reported by name and flat index, where it
    meets a zero input or the zero initial state, and at a step the mask skips."""
    arrays = _single_step(kind, batch, np.random.default_rng(21))
    at = 3 * arrays[name].shape[1] + 7  # row 3
    arrays["x"][:, 0, 3] = 0.0
    arrays[name].flat[at] = value
    mask = np.zeros((batch, 1), bool) if skipped else None
    with pytest.raises(ValueError, match=rf"rnn_forward: {name} must contain only finite "
                                         rf"values, got NaN or Inf at flat index {at}$"):
        getattr(ops, FORWARDS[kind])(**arrays, training=False, mask=mask)


@pytest.mark.parametrize("kind", KINDS)
def test_a_single_steps_overflowing_products_are_not_an_error(kind):
    """Finite kernels whose products overflow are not reported as non-finite kernels: the
    inference step returns what the training forward, which scans the kernels first,
    returns."""
    arrays = _single_step(kind, 1, np.random.default_rng(22))
    arrays["kernel"][:] = 3e38
    arrays["x"][:] = np.abs(arrays["x"]) + 1.0
    with np.errstate(over="ignore"):
        assert np.isinf(arrays["x"][:, 0] @ arrays["kernel"]).all()  # the case under test
    forward = getattr(ops, FORWARDS[kind])
    want = forward(**arrays, training=True).last_state
    np.testing.assert_array_equal(forward(**arrays, training=False).last_state, want)
