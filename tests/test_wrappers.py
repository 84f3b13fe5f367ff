"""Tests of the wrappers TimeDistributed and Bidirectional: outputs against the wrapped
layers run by hand, gradients against central differences, models that train, summaries,
configs, save/load, and the errors for bad arguments.

Dimension letters: B batch, T timesteps, K an extra axis, I input features, H and H2
units, O output units.
"""

import json

import numpy as np
import pytest
import reference as ref
from layer_checks import (
    CD_TOL,
    FWD_TOL,
    as_list,
    central_differences,
    check_gradients,
    normal,
    randomize,
    weighted_sum,
)

import gru_py
from gru_py.layers import (
    GRU,
    RNN,
    Add,
    Bidirectional,
    Concatenate,
    Dense,
    Embedding,
    GRUCell,
    Input,
    Reshape,
    TimeDistributed,
    deserialize,
    serialize,
)
from gru_py.utils import set_random_seed

B, T, K, I, H, H2, O = 3, 4, 2, 3, 4, 3, 2

MERGE_MODES = ["concat", "sum", "mul", "ave", None]


# -- helpers ------------------------------------------------------------------------------


def _recurrent(kind, go_backwards=False, **flags):
    """A recurrent layer with one state (a GRU) or two (a stack of two GRU cells)."""
    if kind == "gru":
        return GRU(H, go_backwards=go_backwards, **flags)
    return RNN([GRUCell(H), GRUCell(H2)], go_backwards=go_backwards, **flags)


def _state_sizes(kind):
    return [H] if kind == "gru" else [H, H2]


def _fit_losses(model, x, y, epochs=8):
    """The per-epoch losses of fit (the model compiled beforehand)."""
    history = model.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0)
    return history.history["loss"]


def _sequence_data(seed, count=16, steps=T):
    """x (count, steps, I) and a per-step target that depends on past and future steps."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, steps, I)).astype(np.float32)
    y = (np.cumsum(x[..., :1], axis=1) - np.cumsum(x[:, ::-1, 1:2], axis=1)[:, ::-1]) / steps
    return x, y.astype(np.float32)


# -- TimeDistributed: forward --------------------------------------------------------------


@pytest.mark.parametrize("shape", [(B, T, I), (B, T, K, I)], ids=["3d", "4d"])
def test_time_distributed_dense_equals_dense_at_each_step(shape):
    dense = Dense(O, activation="tanh")
    layer = TimeDistributed(dense)
    x = normal(0, shape).astype(np.float32)
    layer.build(shape)
    randomize(layer, 1)
    y = layer(x)
    assert y.shape == shape[:-1] + (O,) and y.dtype == np.float32
    for t in range(shape[1]):
        np.testing.assert_allclose(y[:, t], dense(x[:, t]), **FWD_TOL,
                                   err_msg=f"step {t}, shape {shape}")
    want = ref.dense_forward(x, *dense.get_weights(), activation="tanh")
    np.testing.assert_allclose(y, want, **FWD_TOL)


def test_time_distributed_gru_equals_gru_on_each_slice():
    gru = GRU(H)
    layer = TimeDistributed(gru)
    shape = (B, K, T, I)  # K slices, each a (B, T, I) sequence
    x = normal(2, shape).astype(np.float32)
    layer.build(shape)
    randomize(layer, 3)
    y = layer(x)
    assert y.shape == (B, K, H)
    for k in range(K):
        np.testing.assert_allclose(y[:, k], gru(x[:, k]), **FWD_TOL, err_msg=f"slice {k}")


def test_time_distributed_weights_are_the_wrapped_layers():
    dense = Dense(O)
    layer = TimeDistributed(dense)
    layer.build((None, T, I))
    assert dense.built
    assert len(layer.weights) == 2
    assert all(a is b for a, b in zip(layer.weights, dense.weights))
    assert all(a is b for a, b in zip(layer.gradients, dense.gradients))
    assert layer.count_params() == dense.count_params() == I * O + O
    assert layer.name == "time_distributed" or layer.name.startswith("time_distributed_")


@pytest.mark.parametrize("input_shape", [(None, T, I), (None, None, I), (7, T, K, I)])
def test_time_distributed_compute_output_shape_matches_call(input_shape):
    layer = TimeDistributed(Dense(O))
    expected = layer.compute_output_shape(input_shape)
    assert expected[:2] == input_shape[:2] and expected[-1] == O
    concrete = tuple(5 if d is None else d for d in input_shape)
    assert layer(np.zeros(concrete, np.float32)).shape == tuple(
        c if e is None else e for c, e in zip(concrete, expected))


def test_time_distributed_embedding_has_no_input_gradient():
    layer = TimeDistributed(Embedding(10, O))
    ids = np.random.default_rng(4).integers(0, 10, (B, T, K))
    y = layer(ids, training=True)
    assert y.shape == (B, T, K, O)
    np.testing.assert_array_equal(y, layer.layer.embeddings[ids])
    assert layer.backward(np.ones(y.shape, np.float32)) is None
    counts = np.bincount(ids.reshape(-1), minlength=10)
    np.testing.assert_array_equal(layer.gradients[0], np.repeat(counts[:, None], O, axis=1))


# -- TimeDistributed: backward --------------------------------------------------------------


@pytest.mark.parametrize("inner, shape", [
    (lambda: Dense(O, activation="tanh"), (2, 3, 2, I)),
    (lambda: GRU(2), (2, 2, 3, I)),
], ids=["dense", "gru"])
def test_time_distributed_gradients_match_central_differences(inner, shape):
    layer = TimeDistributed(inner())
    layer.build(shape)
    randomize(layer, 5)
    x = normal(6, shape)
    y = layer(x.astype(np.float32), training=True)
    w = normal(7, y.shape)
    layer.zero_gradients()
    d_x = layer.backward(w.astype(np.float32))

    def f():
        return weighted_sum(layer(x.astype(np.float32)), [w])

    context = f"shape {shape}, seeds 5-7"
    np.testing.assert_allclose(d_x, central_differences(f, x), **CD_TOL, err_msg=f"d_x; {context}")
    for i, weight in enumerate(layer.weights):
        np.testing.assert_allclose(layer.gradients[i], central_differences(f, weight), **CD_TOL,
                                   err_msg=f"weight {i}; {context}")


def test_time_distributed_applies_the_wrapped_layers_activity_regularizer():
    layer = TimeDistributed(Dense(O, activity_regularizer="l2"))
    x = normal(8, (B, T, I)).astype(np.float32)
    y = layer(x, training=True)
    # Keras' default L2 factor; the sum over all slices equals the sum over the output.
    want = 0.01 * float(np.sum(np.square(y, dtype=np.float64)))
    assert layer.activity_penalty() == pytest.approx(want, rel=1e-6)
    d_x = layer.backward(np.zeros_like(y))
    plain = Dense(O)
    plain.build((B, I))
    plain.set_weights(layer.get_weights())
    plain(x, training=True)
    np.testing.assert_allclose(d_x, plain.backward(0.02 * y), **FWD_TOL)


# -- TimeDistributed: errors -----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(B, I), (B,)])
def test_time_distributed_rejects_inputs_below_rank_3(shape):
    with pytest.raises(ValueError, match=r"TimeDistributed: input must have at least 3"):
        TimeDistributed(Dense(O))(np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match=r"at least 3 dimensions"):
        TimeDistributed(Dense(O))(Input(shape=shape[1:]))
    built = TimeDistributed(Dense(O))
    built.build((None, T, I))
    with pytest.raises(ValueError, match=r"at least 3 dimensions.*got shape"):
        built(np.zeros(shape, np.float32))


@pytest.mark.parametrize("bad", [3, "dense", Dense])
def test_time_distributed_rejects_non_layers(bad):
    with pytest.raises(ValueError, match=r"TimeDistributed: layer must be a gru_py layer"):
        TimeDistributed(bad)


def test_time_distributed_rejects_models():
    model = gru_py.Sequential([Input(shape=(I,)), Dense(O)])
    with pytest.raises(NotImplementedError, match=r"wrapping a model"):
        TimeDistributed(model)


def test_time_distributed_rejects_a_layer_with_several_outputs():
    with pytest.raises(ValueError, match=r"must have one output"):
        TimeDistributed(GRU(H, return_state=True))(Input(shape=(K, T, I)))
    with pytest.raises(ValueError, match=r"must have one output"):
        TimeDistributed(GRU(H, return_state=True))(np.zeros((B, K, T, I), np.float32))


def test_time_distributed_backward_errors():
    layer = TimeDistributed(Dense(O))
    x = np.zeros((B, T, I), np.float32)
    layer(x)
    with pytest.raises(RuntimeError, match=r"training=True"):
        layer.backward(np.zeros((B, T, O), np.float32))
    layer(x, training=True)
    with pytest.raises(ValueError, match=rf"d_output must have shape \({B}, {T}, \.\.\.\)"):
        layer.backward(np.zeros((T, B, O), np.float32))


# -- Bidirectional: forward ----------------------------------------------------------------


def _bidirectional_and_parts(kind, merge_mode, seed, **flags):
    """A built Bidirectional with random weights, and a forward and a go_backwards layer
    built separately and given its forward and backward weights."""
    layer = Bidirectional(_recurrent(kind, **flags), merge_mode=merge_mode)
    layer.build((B, T, I))
    randomize(layer, seed)
    forward = _recurrent(kind, **flags)
    backward = _recurrent(kind, go_backwards=True, **flags)
    count = len(layer.weights) // 2
    for part, weights in ((forward, layer.weights[:count]), (backward, layer.weights[count:])):
        part.build((B, T, I))
        part.set_weights(weights)
    return layer, forward, backward


def _every_bidirectional_case(test):
    """Parametrizes a test over both layer kinds, every merge mode and the four
    combinations of return_sequences and return_state (``flags``)."""
    flags = [{"return_sequences": s, "return_state": r} for s in (False, True)
             for r in (False, True)]
    test = pytest.mark.parametrize("flags", flags, ids=lambda f: "-".join(
        k for k, v in f.items() if v) or "plain")(test)
    test = pytest.mark.parametrize("merge_mode", MERGE_MODES)(test)
    return pytest.mark.parametrize("kind", ["gru", "stacked"])(test)


def _merged(merge_mode, y_f, y_b, return_sequences):
    if return_sequences:
        y_b = y_b[:, ::-1]  # the go_backwards layer returns steps in processing order
    if merge_mode is None:
        return [y_f, y_b]
    return [{"concat": lambda: np.concatenate([y_f, y_b], axis=-1), "sum": lambda: y_f + y_b,
             "mul": lambda: y_f * y_b, "ave": lambda: (y_f + y_b) / 2}[merge_mode]()]


@_every_bidirectional_case
def test_bidirectional_equals_forward_and_backward_layers_merged(kind, merge_mode, flags):
    layer, forward, backward = _bidirectional_and_parts(kind, merge_mode, 10, **flags)
    x = normal(11, (B, T, I)).astype(np.float32)
    got = as_list(layer(x))
    out_f, *states_f = as_list(forward(x))
    out_b, *states_b = as_list(backward(x))
    want = _merged(merge_mode, out_f, out_b, flags["return_sequences"]) + states_f + states_b
    context = f"{kind}, merge_mode={merge_mode}, flags {flags}, seeds 10-11"
    assert len(got) == len(want), context
    assert len(states_f) == (len(_state_sizes(kind)) if flags["return_state"] else 0)
    for i, (g, w) in enumerate(zip(got, want)):
        assert isinstance(g, np.ndarray) and g.dtype == np.float32, f"output {i}; {context}"
        np.testing.assert_allclose(g, w, **FWD_TOL, err_msg=f"output {i}; {context}")
    shapes = layer.compute_output_shape((None, T, I))
    shapes = shapes if isinstance(shapes, list) else [shapes]
    assert [(B,) + tuple(s[1:]) for s in shapes] == [g.shape for g in got], context


@pytest.mark.parametrize("kind", ["gru", "stacked"])
def test_bidirectional_splits_initial_state_half_and_half(kind):
    layer, forward, backward = _bidirectional_and_parts(kind, "concat", 12,
                                                        return_sequences=True)
    x = normal(13, (B, T, I)).astype(np.float32)
    sizes = _state_sizes(kind)
    states = [normal(14 + i, (B, s)).astype(np.float32) for i, s in enumerate(sizes + sizes)]
    half = len(sizes)
    got = layer(x, initial_state=states)
    want = _merged("concat", forward(x, initial_state=states[:half]),
                   backward(x, initial_state=states[half:]), True)[0]
    np.testing.assert_allclose(got, want, **FWD_TOL)
    assert not np.allclose(got, layer(x)), "the initial state was ignored"


def test_bidirectional_copies_layer_with_keras_names_and_fresh_weights():
    original = GRU(H, name="enc")
    layer = Bidirectional(original)
    assert layer.forward_layer is not original and layer.backward_layer is not original
    assert (layer.forward_layer.name, layer.backward_layer.name) == ("forward_enc",
                                                                     "backward_enc")
    assert not layer.forward_layer.go_backwards and layer.backward_layer.go_backwards
    layer(np.zeros((B, T, I), np.float32))
    assert not original.built
    own = layer.forward_layer.weights + layer.backward_layer.weights
    assert len(layer.weights) == len(own) == 6
    assert all(a is b for a, b in zip(layer.weights, own))
    assert layer.count_params() == 2 * layer.forward_layer.count_params()
    # A name that already carries the prefix keeps it once, so configs round-trip.
    again = Bidirectional(layer.forward_layer)
    assert again.forward_layer.name == "forward_enc"


def test_bidirectional_weights_argument_sets_forward_then_backward():
    source = Bidirectional(GRU(H))
    source.build((None, T, I))
    randomize(source, 20)
    weights = source.get_weights()
    layer = Bidirectional(GRU(H), weights=weights)
    x = normal(21, (B, T, I)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), source(x))
    for a, b in zip(layer.get_weights(), weights):
        np.testing.assert_array_equal(a, b)


def test_bidirectional_uses_the_given_backward_layer():
    back = GRU(H2, activation="relu", go_backwards=True, return_sequences=True)
    layer = Bidirectional(GRU(H, return_sequences=True), backward_layer=back)
    assert layer.backward_layer is back
    x = normal(22, (B, T, I)).astype(np.float32)
    y = layer(x)
    assert y.shape == (B, T, H + H2)
    assert layer.compute_output_shape((None, T, I)) == (None, T, H + H2)
    np.testing.assert_allclose(y[..., H:], back(x)[:, ::-1], **FWD_TOL)


# -- Bidirectional: backward ---------------------------------------------------------------


@_every_bidirectional_case
def test_bidirectional_gradients_match_central_differences(kind, merge_mode, flags):
    """Inputs, initial states and every weight, on a small case."""
    layer = Bidirectional(_recurrent(kind, **flags), merge_mode=merge_mode)
    shape = (2, 3, I)
    layer.build(shape)
    randomize(layer, 30)
    sizes = _state_sizes(kind)
    states = [normal(32 + i, (2, s)) for i, s in enumerate(sizes + sizes)]
    check_gradients(layer, normal(31, shape), states, 40,
                    f"{kind}, merge_mode={merge_mode}, flags {flags}, seeds 30-45")


def test_bidirectional_backward_with_only_some_output_gradients():
    """Missing gradients (None, or trailing ones left out) count as zeros."""
    layer = Bidirectional(GRU(H, return_state=True), merge_mode=None)
    x = normal(50, (B, T, I)).astype(np.float32)
    outputs = layer(x, training=True)
    w = normal(51, outputs[1].shape).astype(np.float32)
    d_x, _ = layer.backward(None, w)
    layer(x, training=True)
    zeros = [np.zeros_like(o) for o in outputs]
    d_x_full, _ = layer.backward(zeros[0], w, *zeros[2:])
    np.testing.assert_array_equal(d_x, d_x_full)
    assert np.abs(d_x).sum() > 0


def test_bidirectional_activity_regularizers_count_inside_and_out():
    layer = Bidirectional(GRU(H, activity_regularizer="l1"), merge_mode="sum",
                          activity_regularizer="l2")
    x = normal(52, (B, T, I)).astype(np.float32)
    layer.build(x.shape)
    y = layer._graph_forward(x, {}, training=True)[0]  # how a model runs it
    h_f = layer.forward_layer(x)
    h_b = layer.backward_layer(x)
    want = 0.01 * (np.abs(h_f).sum() + np.abs(h_b).sum()) + 0.01 * np.square(y).sum()
    assert layer.activity_penalty() == pytest.approx(float(want), rel=1e-5)


# -- Bidirectional: errors ------------------------------------------------------------------


@pytest.mark.parametrize("merge_mode", ["max", "Concat", "", 1])
def test_bidirectional_rejects_unknown_merge_mode(merge_mode):
    with pytest.raises(ValueError, match=r"merge_mode must be one of .*got"):
        Bidirectional(GRU(H), merge_mode=merge_mode)


@pytest.mark.parametrize("bad", [Dense(H), GRUCell(H), 3, None],
                         ids=["dense", "cell", "int", "none"])
def test_bidirectional_rejects_non_recurrent_layers(bad):
    with pytest.raises(ValueError, match=r"Bidirectional: layer must be a recurrent layer"):
        Bidirectional(bad)
    with pytest.raises(ValueError, match=r"backward_layer must be a recurrent layer"):
        Bidirectional(GRU(H), backward_layer=bad if bad is not None else "gru")


@pytest.mark.parametrize("go_backwards", [False, True])
def test_bidirectional_rejects_backward_layer_with_the_same_go_backwards(go_backwards):
    with pytest.raises(ValueError, match=r"opposite go_backwards"):
        Bidirectional(GRU(H, go_backwards=go_backwards),
                      backward_layer=GRU(H, go_backwards=go_backwards))


@pytest.mark.parametrize("attribute", ["return_sequences", "return_state"])
def test_bidirectional_rejects_backward_layer_with_other_flags(attribute):
    with pytest.raises(ValueError, match=rf"same {attribute}"):
        Bidirectional(GRU(H), backward_layer=GRU(H, go_backwards=True, **{attribute: True}))


def test_bidirectional_rejects_a_backwards_layer_without_backward_layer():
    with pytest.raises(ValueError, match=r"go_backwards=False"):
        Bidirectional(GRU(H, go_backwards=True))


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave"])
def test_bidirectional_elementwise_merge_needs_equal_sizes(merge_mode):
    layer = Bidirectional(GRU(H), merge_mode=merge_mode,
                          backward_layer=GRU(H2, go_backwards=True))
    with pytest.raises(ValueError, match=r"same shape"):
        layer(np.zeros((B, T, I), np.float32))


@pytest.mark.parametrize("initial_state", [
    lambda s: s[0], lambda s: [s[0]], lambda s: s[:3], lambda s: []],
    ids=["array", "one", "three", "empty"])
def test_bidirectional_rejects_bad_initial_state(initial_state):
    states = [np.zeros((B, H), np.float32)] * 4
    with pytest.raises(ValueError, match=r"initial_state must be a list of an even number"):
        Bidirectional(GRU(H))(np.zeros((B, T, I), np.float32),
                              initial_state=initial_state(states))


def test_bidirectional_rejects_wrong_weights():
    with pytest.raises(ValueError, match=r"weights must be a list of arrays"):
        Bidirectional(GRU(H), weights=np.zeros(3))
    layer = Bidirectional(GRU(H), weights=[np.zeros((I, 3 * H))])
    with pytest.raises(ValueError, match=r"set_weights expects a list of 6 arrays"):
        layer(np.zeros((B, T, I), np.float32))


def test_bidirectional_backward_errors():
    layer = Bidirectional(GRU(H))
    x = np.zeros((B, T, I), np.float32)
    layer(x)
    with pytest.raises(RuntimeError, match=r"training=True"):
        layer.backward(np.zeros((B, 2 * H), np.float32))
    layer(x, training=True)
    with pytest.raises(ValueError, match=rf"output's shape \({B}, {2 * H}\)"):
        layer.backward(np.zeros((B, H), np.float32))


@pytest.mark.parametrize("make, shape", [
    (lambda: TimeDistributed(GRU(H)), (B, K, T, I)),
    (lambda: Bidirectional(RNN([GRUCell(H), GRUCell(H2)], return_sequences=True)), (B, T, I)),
], ids=["time_distributed", "bidirectional"])
def test_wrappers_skip_the_input_gradient_when_asked(make, shape):
    layer = make()
    layer.build(shape)
    randomize(layer, 9)
    x = normal(10, shape).astype(np.float32)
    d_y = normal(11, layer(x).shape).astype(np.float32)
    results = []
    for input_gradient in (True, False):
        layer(x, training=True)
        layer.zero_gradients()
        d_x, _ = layer._graph_backward([d_y], input_gradient=input_gradient)
        results.append((d_x, [g.copy() for g in layer.gradients]))
    (d_x, grads), (skipped, grads_skipped) = results
    assert d_x.shape == shape and skipped is None
    for i, (g, g_skipped) in enumerate(zip(grads, grads_skipped)):
        np.testing.assert_array_equal(g_skipped, g, err_msg=f"gradient {i}, seeds 9-11")


# -- models: fit, summary, config, save/load ------------------------------------------------


def _sequential():
    return gru_py.Sequential([
        Input(shape=(None, I)),
        Bidirectional(GRU(H, return_sequences=True)),
        TimeDistributed(Dense(1)),
    ])


def _functional():
    """Bidirectional with return_state and merge_mode None: four outputs, all used."""
    x = Input(shape=(T, I))
    # Short names: the summary's first column cuts long ones.
    out_f, out_b, h_f, h_b = Bidirectional(GRU(H, return_state=True, return_sequences=True),
                                           merge_mode=None, name="bi")(x)
    per_step = TimeDistributed(Dense(1), name="td")(Concatenate()([out_f, out_b]))
    from_states = Reshape((T, 1))(Dense(T)(Concatenate()([h_f, h_b])))
    return gru_py.Model(x, Add()([per_step, from_states]))


MODEL_MAKERS = {"sequential": _sequential, "functional": _functional}


@pytest.mark.parametrize("kind", sorted(MODEL_MAKERS))
def test_fit_lowers_the_loss(kind):
    set_random_seed(60)
    model = MODEL_MAKERS[kind]()
    x, y = _sequence_data(61)
    model.compile(optimizer="adam", loss="mse")
    losses = _fit_losses(model, x, y)
    assert losses[-1] < 0.8 * losses[0], f"{kind}: losses {losses}"


def test_functional_initial_state_inputs_receive_the_model():
    set_random_seed(62)
    x = Input(shape=(T, I))
    s_f, s_b = Input(shape=(H,)), Input(shape=(H,))
    out = Bidirectional(GRU(H), merge_mode="ave")(x, initial_state=[s_f, s_b])
    model = gru_py.Model([x, s_f, s_b], Dense(1)(out))
    xs = normal(63, (B, T, I)).astype(np.float32)
    states = [normal(64 + i, (B, H)).astype(np.float32) for i in range(2)]
    layer, dense = (next(lay for lay in model.layers if isinstance(lay, cls))
                    for cls in (Bidirectional, Dense))
    want = dense(layer(xs, initial_state=states))
    np.testing.assert_allclose(model([xs] + states), want, **FWD_TOL)
    model.compile(optimizer="sgd", loss="mse")
    loss, grads = model.compute_loss_and_gradients([xs] + states, np.zeros((B, 1), np.float32))
    assert np.isfinite(loss) and len(grads) == len(model.trainable_weights)


@pytest.mark.parametrize("kind", sorted(MODEL_MAKERS))
def test_summary_lists_the_wrappers_with_their_parameters(kind):
    model = MODEL_MAKERS[kind]()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for layer in model.layers:
        if isinstance(layer, (Bidirectional, TimeDistributed)):
            row = next(line for line in lines if line.startswith(layer.name + " "))
            assert f"({type(layer).__name__})" in row
            assert f"{layer.count_params():,}" in row
    assert f"Total params: {model.count_params():,}" in text


def test_sequential_summary_shows_the_wrapper_output_shapes():
    model = _sequential()
    lines = []
    model.summary(print_fn=lines.append)
    bi = next(line for line in lines if "(Bidirectional)" in line)
    td = next(line for line in lines if "(TimeDistributed)" in line)
    assert f"(None, None, {2 * H})" in bi and "(None, None, 1)" in td


@pytest.mark.parametrize("layer", [
    lambda: TimeDistributed(Dense(O, activation="relu", name="inner")),
    lambda: Bidirectional(GRU(H, return_state=True, reset_after=False), merge_mode="mul"),
    lambda: Bidirectional(GRU(H), merge_mode=None,
                          backward_layer=GRU(H2, go_backwards=True, activation="relu")),
], ids=["time_distributed", "bidirectional", "custom_backward"])
def test_config_round_trips_through_json(layer):
    original = layer()
    config = json.loads(json.dumps(serialize(original)))
    rebuilt = deserialize(config)
    assert type(rebuilt) is type(original)
    assert serialize(rebuilt) == config
    original.build((None, T, I))
    rebuilt.build((None, T, I))
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in original.weights]


@pytest.mark.parametrize("kind", sorted(MODEL_MAKERS))
def test_save_and_load_give_identical_predictions(tmp_path, kind):
    set_random_seed(70)
    model = MODEL_MAKERS[kind]()
    x, y = _sequence_data(71)
    model.compile(optimizer="adam", loss="mse")
    _fit_losses(model, x, y, epochs=1)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = gru_py.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # Training continues identically: the optimizer state came along.
    after = [_fit_losses(m, x, y, epochs=1)[0] for m in (model, loaded)]
    assert after[0] == after[1]
