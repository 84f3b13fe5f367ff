"""Tests of the recurrent layers as users drive them (GitHub issue 5, layer level): LSTM,
SimpleRNN and their cells beside GRU; RNN over stacks of mixed cells; masks end to end
through models; Bidirectional with masks; stateful layers; dropout and recurrent dropout;
gate activations; and the errors for bad arguments.

The C core's numerics are tested against NumPy in the op-level tests. Here a layer is
compared with the op on the same weights, with itself run another way (step by step,
chunk by chunk, one sequence at a time, on changed padding), and with central
differences.

Dimension letters: B batch, T timesteps, I input features, H units, V vocabulary, D
embedding size.
"""

import inspect
import json

import numpy as np
import pytest
from layer_checks import FWD_TOL, as_list, check_gradients, normal, randomize

import gru_py
from gru_py import initializers, ops
from gru_py.layers import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    Dense,
    Embedding,
    GRUCell,
    Input,
    LSTMCell,
    Masking,
    SimpleRNN,
    SimpleRNNCell,
    deserialize,
    serialize,
)
from gru_py.utils import set_random_seed

B, T, I, H, V, D = 3, 5, 2, 4, 8, 3

KINDS = ["gru", "lstm", "simple_rnn"]
LAYERS = {"gru": GRU, "lstm": LSTM, "simple_rnn": SimpleRNN}
CELLS = {"gru": GRUCell, "lstm": LSTMCell, "simple_rnn": SimpleRNNCell}
# Gate blocks side by side in the kernels (Keras: GRU [z|r|h], LSTM [i|f|c|o]) and states.
GATES = {"gru": 3, "lstm": 4, "simple_rnn": 1}
STATES = {"gru": 1, "lstm": 2, "simple_rnn": 1}

# Token ids, 0 is padding: right-, left- and mixed-padded batches; every row keeps a step.
RIGHT = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 0], [6, 1, 0, 0, 0]])
LEFT = np.array([[0, 0, 3, 4, 5], [0, 1, 2, 3, 4], [0, 0, 0, 6, 1]])
MIXED = np.array([[0, 3, 0, 4, 0], [1, 2, 3, 4, 5], [7, 0, 0, 2, 0]])
PADDINGS = {"right": RIGHT, "left": LEFT, "mixed": MIXED}


# -- helpers ------------------------------------------------------------------------------


def _x(seed, shape=(B, T, I)):
    return normal(seed, shape).astype(np.float32)


def _states(kind, seed, batch=B, units=H):
    """One (batch, units) float32 array per state of a cell of this kind."""
    return [_x(seed + i, (batch, units)) for i in range(STATES[kind])]


def _layer(kind, weight_seed, units=H, features=I, **kwargs):
    """A built recurrent layer of this kind with random weights."""
    layer = LAYERS[kind](units, **kwargs)
    layer.build((None, None, features))
    randomize(layer, weight_seed)
    return layer


def _ops_forward(cell, x, initial_states=None, **options):
    """The op of the cell's kind run on the cell's weights and activations."""
    kernel, recurrent_kernel, *bias = cell.get_weights()
    args = (x, kernel, recurrent_kernel, bias[0] if bias else None)
    if isinstance(cell, LSTMCell):
        return ops.lstm_forward(*args, initial_states, activation=cell.activation,
                                recurrent_activation=cell.recurrent_activation, **options)
    initial = None if initial_states is None else initial_states[0]
    if isinstance(cell, GRUCell):
        return ops.gru_forward(*args, initial, activation=cell.activation,
                               recurrent_activation=cell.recurrent_activation,
                               reset_after=cell.reset_after, **options)
    return ops.simple_rnn_forward(*args, initial, activation=cell.activation, **options)


def _op_states(out):
    """The last states of an op's result, as a layer returns them."""
    return [out.last_state] + ([] if out.last_carry is None else [out.last_carry])


def _masked_sequence(alone, keep, zero_output=False):
    """The (T, H) outputs of one masked row from ``alone``, the (K, H) outputs of its K
    kept steps run without the others: a masked step repeats the last kept output before
    it (zeros before the first), or is zeros with zero_output_for_mask."""
    out = np.zeros((len(keep), alone.shape[-1]), np.float32)
    k = -1
    for t, kept in enumerate(keep):
        k += int(kept)
        if k >= 0 and (kept or not zero_output):
            out[t] = alone[k]
    return out


def _ids_model(kind, seed, functional=False, return_sequences=False, head=None, **kwargs):
    """Input(ids) -> Embedding(mask_zero) -> recurrent layer (-> head), random weights."""
    layers = [Embedding(V, D, mask_zero=True),
              LAYERS[kind](H, return_sequences=return_sequences, **kwargs)]
    layers += [] if head is None else [head]
    inputs = Input(shape=(None,), dtype="int32")
    if functional:
        x = inputs
        for layer in layers:
            x = layer(x)
        model = gru_py.Model(inputs, x)
    else:
        model = gru_py.Sequential([inputs] + layers)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in model.get_weights()])
    return model


def _output_masks(model, x):
    """The masks carried by a model's outputs (inference)."""
    model._ensure_built([x])
    return model._forward([x], training=False)[1]


# -- 1. constructors, weights, configs -----------------------------------------------------

_REQUIRED = inspect.Parameter.empty
_INITIALIZERS = [("kernel_initializer", "glorot_uniform"),
                 ("recurrent_initializer", "orthogonal"), ("bias_initializer", "zeros")]
_PENALTIES = [("kernel_regularizer", None), ("recurrent_regularizer", None),
              ("bias_regularizer", None)]
_CONSTRAINTS = [("kernel_constraint", None), ("recurrent_constraint", None),
                ("bias_constraint", None)]
_RATES = [("dropout", 0.0), ("recurrent_dropout", 0.0)]
_SEQUENCE_FLAGS = [("return_sequences", False), ("return_state", False),
                   ("go_backwards", False), ("stateful", False), ("unroll", False)]
# Keras 3's positional order and defaults (API_SPEC 1.1 and 1.5): LSTM puts
# unit_forget_bias after bias_initializer; SimpleRNN puts seed last.
KERAS_SIGNATURES = {
    LSTMCell: [("units", _REQUIRED), ("activation", "tanh"),
               ("recurrent_activation", "sigmoid"), ("use_bias", True)] + _INITIALIZERS
    + [("unit_forget_bias", True)] + _PENALTIES + _CONSTRAINTS + _RATES + [("seed", None)],
    LSTM: [("units", _REQUIRED), ("activation", "tanh"), ("recurrent_activation", "sigmoid"),
           ("use_bias", True)] + _INITIALIZERS + [("unit_forget_bias", True)] + _PENALTIES
    + [("activity_regularizer", None)] + _CONSTRAINTS + _RATES + [("seed", None)]
    + _SEQUENCE_FLAGS + [("use_cudnn", "auto")],
    SimpleRNNCell: [("units", _REQUIRED), ("activation", "tanh"), ("use_bias", True)]
    + _INITIALIZERS + _PENALTIES + _CONSTRAINTS + _RATES + [("seed", None)],
    SimpleRNN: [("units", _REQUIRED), ("activation", "tanh"), ("use_bias", True)]
    + _INITIALIZERS + _PENALTIES + [("activity_regularizer", None)] + _CONSTRAINTS + _RATES
    + _SEQUENCE_FLAGS + [("seed", None)],
}


@pytest.mark.parametrize("cls", list(KERAS_SIGNATURES), ids=lambda c: c.__name__)
def test_constructor_has_keras_argument_order_and_defaults(cls):
    params = [p for p in inspect.signature(cls.__init__).parameters.values()
              if p.name != "self" and p.kind is not p.VAR_KEYWORD]
    expected = KERAS_SIGNATURES[cls]
    got = [(p.name, p.default) for p in params[:len(expected)]]
    assert got == expected
    # Keras hides `implementation` in **kwargs; gru_py may name it, after Keras' arguments.
    assert [p.name for p in params[len(expected):]] in ([], ["implementation"])


@pytest.mark.parametrize("kind", ["lstm", "simple_rnn"])
def test_positional_arguments_land_where_keras_puts_them(kind):
    if kind == "lstm":
        # units, activation, recurrent_activation, use_bias, 3 initializers,
        # unit_forget_bias
        layer = LSTM(3, "relu", "hard_sigmoid", False, "zeros", "zeros", "ones", False)
        assert (layer.unit_forget_bias, layer.use_bias) == (False, False)
        assert layer.recurrent_activation == "hard_sigmoid"
    else:
        # seed is the last of SimpleRNN's 21 positional arguments, after the flags
        args = [3, "relu", True, "zeros", "zeros", "zeros", None, None, None, None, None,
                None, None, 0.5, 0.25, True, True, True, False, False, 11]
        layer = SimpleRNN(*args)
        assert layer.seed == 11 and layer.cell.seed == 11
        assert (layer.dropout, layer.recurrent_dropout) == (0.5, 0.25)
        assert layer.return_sequences and layer.return_state and layer.go_backwards
    assert layer.activation == "relu"


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_weight_shapes_order_and_parameter_count(kind, use_bias):
    layer = LAYERS[kind](H, use_bias=use_bias)
    layer.build((None, T, I))
    G = GATES[kind]
    bias_shape = (2, G * H) if kind == "gru" else (G * H,)
    expected = [(I, G * H), (H, G * H)] + ([bias_shape] if use_bias else [])
    assert [w.shape for w in layer.get_weights()] == expected
    assert layer.kernel is layer.weights[0] and layer.recurrent_kernel is layer.weights[1]
    assert (layer.bias is layer.weights[2]) if use_bias else layer.bias is None
    assert all(w.dtype == np.float32 for w in layer.weights)
    assert layer.count_params() == G * H * (I + H) + (int(np.prod(bias_shape)) if use_bias
                                                       else 0)
    # The cell owns the same arrays, in the same order.
    cell = layer.cell
    assert isinstance(cell, CELLS[kind])
    assert all(a is b for a, b in zip(layer.weights, cell.weights))


@pytest.mark.parametrize("make, features, expected", [
    (lambda: LSTM(128), 100, 117_248),  # Keras summary of LSTM(128) on 100 features
    (lambda: SimpleRNN(128), 100, 29_312),
    (lambda: RNN([LSTMCell(8), GRUCell(4), SimpleRNNCell(2)]), 5,
     (4 * 8 * 13 + 32) + (3 * 4 * 12 + 24) + (2 * 6 + 2)),
], ids=["lstm128", "simple_rnn128", "mixed_stack"])
def test_count_params_matches_keras(make, features, expected):
    layer = make()
    layer.build((None, None, features))
    assert layer.count_params() == expected


@pytest.mark.parametrize("make", [LSTM, LSTMCell], ids=["layer", "cell"])
def test_unit_forget_bias_initialises_the_forget_block_to_ones(make):
    def bias(**kwargs):
        layer = make(H, **kwargs)
        layer.build((None, T, I) if make is LSTM else (None, I))
        return layer.get_weights()[2]

    zeros, ones = np.zeros(H, np.float32), np.ones(H, np.float32)
    np.testing.assert_array_equal(bias(), np.concatenate([zeros, ones, zeros, zeros]))
    np.testing.assert_array_equal(bias(unit_forget_bias=False), np.zeros(4 * H))
    # The other blocks keep bias_initializer's values, as in Keras' code.
    quarter = np.full(H, 0.25, np.float32)
    np.testing.assert_array_equal(bias(bias_initializer=initializers.Constant(0.25)),
                                  np.concatenate([quarter, ones, quarter, quarter]))
    random = bias(bias_initializer="random_normal")
    np.testing.assert_array_equal(random[H:2 * H], ones)
    assert np.all(random[:H] != 0) and np.all(random[2 * H:] != 0)


LAYER_CONFIGS = {
    "lstm": lambda: LSTM(H, activation="relu", recurrent_activation="hard_sigmoid",
                         unit_forget_bias=False, dropout=0.25, recurrent_dropout=0.125,
                         seed=5, return_sequences=True, go_backwards=True,
                         kernel_regularizer="l2", bias_initializer="ones", name="enc"),
    "simple_rnn": lambda: SimpleRNN(H, activation="sigmoid", use_bias=False, dropout=0.5,
                                    seed=2, return_state=True, stateful=True,
                                    batch_input_shape=(B, None, I)),
    "lstm_cell": lambda: LSTMCell(H, recurrent_activation="relu", unit_forget_bias=False,
                                  recurrent_dropout=0.5, seed=1),
    "simple_rnn_cell": lambda: SimpleRNNCell(H, activation="relu", dropout=0.5,
                                             recurrent_initializer="zeros"),
    "mixed_stack": lambda: RNN([LSTMCell(3), GRUCell(2, reset_after=False),
                                SimpleRNNCell(H, activation="relu")],
                               return_sequences=True, return_state=True,
                               zero_output_for_mask=True),
}


@pytest.mark.parametrize("name", sorted(LAYER_CONFIGS))
def test_config_round_trips_through_json_and_rebuilds_the_same_layer(name):
    original = LAYER_CONFIGS[name]()
    config = json.loads(json.dumps(serialize(original)))
    rebuilt = deserialize(config)
    assert type(rebuilt) is type(original)
    assert serialize(rebuilt) == config
    assert type(original).from_config(original.get_config()).get_config() == \
        original.get_config()
    cell = name.endswith("_cell")
    shape = (B, I) if cell else (B, T, I)
    for layer in (original, rebuilt):
        layer.build(shape)
    randomize(original, 3)
    rebuilt.set_weights(original.get_weights())
    if cell:
        x, states = _x(4, shape), _states("lstm" if name == "lstm_cell" else "gru", 5)
        got, want = rebuilt(x, states)[1], original(x, states)[1]
    else:
        got, want = as_list(rebuilt(_x(4))), as_list(original(_x(4)))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_output_for_mask_is_accepted_and_survives_the_config(kind):
    """Keras' GRU, LSTM and SimpleRNN take RNN's zero_output_for_mask through **kwargs
    and keep it in get_config (RNN.get_config is their base config)."""
    layer = LAYERS[kind](H, return_sequences=True, zero_output_for_mask=True)
    assert layer.zero_output_for_mask
    rebuilt = type(layer).from_config(layer.get_config())
    assert rebuilt.zero_output_for_mask, (
        f"{kind}: zero_output_for_mask=True is lost by get_config/from_config")


def _sequential_to_save():
    return gru_py.Sequential([
        Input(shape=(None,), dtype="int32"), Embedding(V, D, mask_zero=True),
        LSTM(H, return_sequences=True), SimpleRNN(H, return_sequences=True), GRU(H),
        Dense(1)])


def _functional_to_save():
    """An LSTM's states initialise (through Dense layers) a GRU + SimpleRNN stack."""
    ids = Input(shape=(None,), dtype="int32")
    seq, h, c = LSTM(H, return_sequences=True, return_state=True)(
        Embedding(V, D, mask_zero=True)(ids))
    out = RNN([GRUCell(3), SimpleRNNCell(2)])(seq, initial_state=[Dense(3)(h), Dense(2)(c)])
    return gru_py.Model(ids, Dense(1)(out))


@pytest.mark.parametrize("make", [_sequential_to_save, _functional_to_save],
                         ids=["sequential", "functional"])
def test_save_and_load_model_give_identical_predictions(tmp_path, make):
    set_random_seed(20)
    model = make()
    rng = np.random.default_rng(21)
    ids = np.concatenate([RIGHT, LEFT, MIXED])
    y = rng.standard_normal((len(ids), 1)).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    model.fit(ids, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / "recurrent.keras"
    model.save(path)
    loaded = gru_py.models.load_model(path)
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    np.testing.assert_array_equal(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    after = [m.fit(ids, y, batch_size=3, epochs=1, shuffle=False, verbose=0).history["loss"]
             for m in (model, loaded)]
    assert after[0] == after[1]


# -- 1. outputs and states -----------------------------------------------------------------


@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_return_state_returns_output_h_and_c(return_sequences):
    layer = _layer("lstm", 30, return_sequences=return_sequences, return_state=True)
    x = _x(31)
    outputs = layer(x)
    assert isinstance(outputs, tuple) and len(outputs) == 3
    output, h, c = outputs
    assert output.shape == ((B, T, H) if return_sequences else (B, H))
    assert h.shape == c.shape == (B, H)
    np.testing.assert_array_equal(output[:, -1] if return_sequences else output, h)
    # h = o * tanh(c): |h| < |tanh(c)|, and c is not h
    assert np.all(np.abs(h) <= np.abs(np.tanh(c)) + 1e-7) and not np.allclose(h, c)
    op = _ops_forward(layer.cell, x)
    np.testing.assert_array_equal(h, op.last_state)
    np.testing.assert_array_equal(c, op.last_carry)
    assert layer.compute_output_shape((None, T, I)) == [
        (None, T, H) if return_sequences else (None, H), (None, H), (None, H)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("initial", [False, True])
def test_layer_output_equals_the_op_on_the_same_weights(kind, go_backwards, initial):
    x = _x(32)
    states = _states(kind, 33) if initial else None
    want = _ops_forward(_layer(kind, 34).cell, x, states, go_backwards=go_backwards,
                        training=False)
    for return_sequences in (False, True):
        layer = _layer(kind, 34, return_sequences=return_sequences, return_state=True,
                       go_backwards=go_backwards)
        output, *last = layer(x, initial_state=states)
        np.testing.assert_array_equal(output, want.outputs if return_sequences
                                      else want.last_state)
        assert len(last) == STATES[kind]
        for got, expected in zip(last, _op_states(want)):
            np.testing.assert_array_equal(got, expected)
    if initial:
        assert not np.allclose(layer(x)[0], output), "the initial state was ignored"


@pytest.mark.parametrize("kind", KINDS)
def test_initial_state_is_one_array_per_state_and_feeds_the_op(kind):
    layer = _layer(kind, 35, return_sequences=True)
    x, states = _x(36), _states(kind, 37)
    got = layer(x, initial_state=states)
    np.testing.assert_array_equal(got, _ops_forward(layer.cell, x, states).outputs)
    if kind == "lstm":  # both of [h0, c0] matter
        for i in range(2):
            changed = list(states)
            changed[i] = changed[i] + 1
            assert not np.allclose(layer(x, initial_state=changed), got), f"state {i}"
    else:  # a single array is the one state
        np.testing.assert_array_equal(layer(x, initial_state=states[0]), got)


def test_lstm_encoder_states_initialise_a_decoder_in_a_functional_model():
    """The Keras encoder-decoder pattern: LSTM(return_state) -> LSTM(initial_state=[h, c])."""
    set_random_seed(38)
    source, target = Input(shape=(None, I)), Input(shape=(None, I))
    encoder = LSTM(H, return_state=True)
    decoder = LSTM(H, return_sequences=True)
    _, h, c = encoder(source)
    head = Dense(1)
    model = gru_py.Model([source, target], head(decoder(target, initial_state=[h, c])))
    xs, xt = _x(39), _x(40, (B, 3, I))
    _, h_e, c_e = encoder(xs)
    np.testing.assert_allclose(model([xs, xt]), head(decoder(xt, initial_state=[h_e, c_e])),
                               **FWD_TOL)
    model.compile(optimizer="sgd", loss="mse")
    _, grads = model.compute_loss_and_gradients([xs, xt], np.ones((B, 3, 1), np.float32))
    encoder_grads = [g for g, w in zip(grads, model.trainable_weights)
                     if any(w is e for e in encoder.weights)]
    assert len(encoder_grads) == 3
    assert all(np.abs(g).sum() > 0 for g in encoder_grads), "no gradient reached the encoder"


def _mixed_stack(seed, **flags):
    """RNN([LSTMCell(3), GRUCell(2), SimpleRNNCell(H)]) with random weights, and the three
    equivalent layers given the same weights."""
    rnn = RNN([LSTMCell(3), GRUCell(2), SimpleRNNCell(H)], **flags)
    rnn.build((B, T, I))
    randomize(rnn, seed)
    go_backwards = flags.get("go_backwards", False)
    parts = [LSTM(3, return_sequences=True, return_state=True, go_backwards=go_backwards),
             GRU(2, return_sequences=True, return_state=True),
             SimpleRNN(H, return_sequences=True, return_state=True)]
    weights = rnn.get_weights()
    for part, features, chunk in zip(parts, (I, 3, 2), (weights[:3], weights[3:6],
                                                         weights[6:])):
        part.build((B, T, features))
        part.set_weights(chunk)
    return rnn, parts


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_mixed_stack_equals_its_layers_chained_with_flattened_states(return_sequences,
                                                                     go_backwards, masked):
    rnn, parts = _mixed_stack(40, return_sequences=return_sequences, return_state=True,
                              go_backwards=go_backwards)
    x = _x(41)
    mask = (MIXED != 0) if masked else None
    # the cells above the first read its outputs in processing order, and so the mask
    upper_mask = mask[:, ::-1] if masked and go_backwards else mask
    initial = _states("lstm", 42, units=3) + _states("gru", 44, units=2) + \
        _states("simple_rnn", 45)
    outputs = rnn(x, initial_state=initial, mask=mask)
    # the output, then h and c of the LSTM cell, then one state for each other cell
    assert len(outputs) == 5
    seq, h1, c1 = parts[0](x, initial_state=initial[:2], mask=mask)
    seq, h2 = parts[1](seq, initial_state=initial[2:3], mask=upper_mask)
    seq, h3 = parts[2](seq, initial_state=initial[3:], mask=upper_mask)
    want = [seq if return_sequences else h3, h1, c1, h2, h3]
    for i, (got, expected) in enumerate(zip(outputs, want)):
        np.testing.assert_array_equal(got, expected, err_msg=f"output {i}")
    assert rnn.compute_output_shape((None, T, I)) == [
        (None, T, H) if return_sequences else (None, H), (None, 3), (None, 3), (None, 2),
        (None, H)]
    assert [w.shape for w in rnn.weights] == [
        (I, 12), (3, 12), (12,), (3, 6), (2, 6), (2, 6), (2, H), (H, H), (H,)]
    with pytest.raises(ValueError, match=r"initial_state must hold one array per state.*\(4\)"):
        rnn(x, initial_state=initial[:3])


@pytest.mark.parametrize("kind", KINDS)
def test_cell_stepped_one_step_at_a_time_equals_the_layer(kind):
    layer = _layer(kind, 46, return_sequences=True, return_state=True)
    cell = layer.cell
    x, initial = _x(47), _states(kind, 48)
    outputs, *last = layer(x, initial_state=initial)
    states = list(initial)
    for t in range(T):
        out, states = cell(x[:, t], states)
        assert isinstance(states, list) and len(states) == STATES[kind]
        np.testing.assert_array_equal(out, states[0])
        np.testing.assert_allclose(out, outputs[:, t], **FWD_TOL, err_msg=f"step {t}")
    for got, want in zip(states, last):
        np.testing.assert_allclose(got, want, **FWD_TOL)
    # From zeros, as Keras' get_initial_state starts.
    zeros = cell.get_initial_state(B)
    assert len(zeros) == STATES[kind] and not any(z.any() for z in zeros)
    assert cell.state_size == (H if STATES[kind] == 1 else [H, H]) and cell.output_size == H
    for t in range(T):
        _, zeros = cell(x[:, t], zeros)
    np.testing.assert_allclose(zeros[0], layer(x)[1], **FWD_TOL)
    # RNN(cell) is the layer.
    np.testing.assert_array_equal(RNN(cell, return_sequences=True)(x, initial_state=initial),
                                  outputs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("training", [False, True])
def test_a_cell_step_goes_straight_to_the_core(kind, training, monkeypatch):
    """A cell stepped from Python (no dropout to draw) calls the core without the ops'
    general path, with the general path's numbers, bit for bit."""
    cell = _layer(kind, 49).cell
    x, states = _x(50)[:, 0], list(_states(kind, 51))
    want = cell._run(x[:, None, :], states, training=False, return_sequences=False)
    monkeypatch.setattr(ops, "_rnn_forward", lambda *a, **k: pytest.fail("general path"))
    out, new_states = cell(x, states, training=training)
    np.testing.assert_array_equal(out, want.last_state)
    np.testing.assert_array_equal(new_states[-1], want.last_carry if kind == "lstm"
                                  else want.last_state)


@pytest.mark.parametrize("kind", KINDS)
def test_a_cell_steps_bad_arguments_are_reported_as_the_ops_report_them(kind):
    """The core refuses what the fast step cannot take, and the general path then names
    the problem: a state of the wrong shape, a missing state, a non-finite kernel."""
    cell = _layer(kind, 52).cell
    x, states = _x(53)[:, 0], list(_states(kind, 54))
    with pytest.raises(ValueError, match=r"initial_state.* must have shape \(batch, units\)"):
        cell(x, [np.zeros((B, H + 1), np.float32)] * STATES[kind])
    if kind == "lstm":
        with pytest.raises(ValueError, match="pair"):
            cell(x, states[:1])
    cell.recurrent_kernel[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"recurrent_kernel must contain only finite values"):
        cell(x, states)


# -- 1. gradients ----------------------------------------------------------------------------

FLAGS = [{}, {"return_sequences": True}, {"return_state": True},
         {"return_sequences": True, "return_state": True, "go_backwards": True}]


def _flag_id(flags):
    return "-".join(flags) or "plain"


@pytest.mark.parametrize("flags", FLAGS, ids=_flag_id)
@pytest.mark.parametrize("kind", ["lstm", "simple_rnn"])
def test_layer_gradients_match_central_differences(kind, flags):
    layer = _layer(kind, 50, units=3, **flags)
    x = _x(51, (2, 3, I))
    check_gradients(layer, x, _states(kind, 52, batch=2, units=3), 53,
                     f"{kind} {flags}, seeds 50-53")


@pytest.mark.parametrize("kind", KINDS)
def test_masked_layer_gradients_match_central_differences_and_skip_masked_steps(kind):
    layer = _layer(kind, 54, units=3, return_sequences=True, return_state=True)
    x = _x(55, (3, 4, I))
    mask = np.array([[True, False, True, False], [False, False, True, True],
                     [False, False, False, False]])
    d_x = check_gradients(layer, x, _states(kind, 56, batch=3, units=3), 57,
                           f"{kind} masked, seeds 54-57", mask=mask)
    assert not d_x[~mask].any(), "a masked step received an input gradient"


def test_mixed_stack_gradients_match_central_differences():
    rnn = RNN([LSTMCell(2), GRUCell(3), SimpleRNNCell(2)], return_sequences=True,
              return_state=True)
    rnn.build((2, 3, I))
    randomize(rnn, 58)
    states = [_x(59 + i, (2, n)) for i, n in enumerate((2, 2, 3, 2))]
    check_gradients(rnn, _x(63, (2, 3, I)), states, 64, "mixed stack, seeds 58-64")


# -- 2. masks end to end ---------------------------------------------------------------------


@pytest.mark.parametrize("padding", sorted(PADDINGS))
@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_padded_batch_equals_each_sequence_run_alone(kind, return_sequences, functional,
                                                     padding):
    ids = PADDINGS[padding]
    model = _ids_model(kind, 60, functional, return_sequences)
    got = model.predict(ids, verbose=0)
    assert got.shape == ((B, T, H) if return_sequences else (B, H))
    for i, row in enumerate(ids):
        keep = row != 0
        alone = model.predict(row[keep][None], verbose=0)[0]
        want = _masked_sequence(alone, keep) if return_sequences else alone
        np.testing.assert_allclose(got[i], want, **FWD_TOL,
                                   err_msg=f"row {i} of {padding} padding")
    if return_sequences:
        np.testing.assert_array_equal(_output_masks(model, ids)[0], ids != 0)
    else:
        assert _output_masks(model, ids) == [None]


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_zero_output_for_mask_zeroes_the_masked_steps_only(kind, go_backwards):
    mask = MIXED != 0
    x = _x(61)
    cell_layer = _layer(kind, 62, return_sequences=True, go_backwards=go_backwards)
    repeat = cell_layer(x, mask=mask)
    zeroed = RNN(cell_layer.cell, return_sequences=True, go_backwards=go_backwards,
                 zero_output_for_mask=True)(x, mask=mask)
    # in processing order: the mask reversed with go_backwards
    keep = mask[:, ::-1] if go_backwards else mask
    np.testing.assert_array_equal(zeroed[keep], repeat[keep])
    assert not zeroed[~keep].any()
    assert repeat[~keep].any(), "masked steps should repeat the previous output"
    for i in range(B):
        alone = cell_layer(x[i:i + 1][:, mask[i]])[0]
        np.testing.assert_allclose(zeroed[i], _masked_sequence(alone, keep[i], True),
                                   **FWD_TOL, err_msg=f"row {i}")


@pytest.mark.parametrize("kind", KINDS)
def test_masked_steps_change_nothing_whatever_they_hold(kind):
    """Other values at masked steps: the same outputs, states and gradients; no input
    gradient at the masked steps."""
    mask = MIXED != 0
    layer = _layer(kind, 63, return_sequences=True, return_state=True)
    x = _x(64)
    other = x.copy()
    other[~mask] = 100 * _x(65)[~mask]
    w = [_x(66 + i, shape) for i, shape in enumerate([(B, T, H)] + [(B, H)] * STATES[kind])]
    results = []
    for data in (x, other):
        outputs = layer(data, mask=mask, training=True)
        layer.zero_gradients()
        d_x, d_states = layer.backward(*w)
        results.append((outputs, d_x, d_states, [g.copy() for g in layer.gradients]))
    (out_a, dx_a, ds_a, g_a), (out_b, dx_b, ds_b, g_b) = results
    for a, b in zip(list(out_a) + ds_a + g_a, list(out_b) + ds_b + g_b):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dx_a, dx_b)
    assert not dx_a[~mask].any() and dx_a[mask].all()


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_fit_on_padded_data_ignores_what_the_padding_holds(kind, return_sequences):
    """Two models that differ only at masked steps (the padding's embedding vector and the
    targets there) train identically: the same losses, the same weights."""
    ids = np.concatenate([RIGHT, LEFT, MIXED])
    head = Dense(1)
    a = _ids_model(kind, 67, return_sequences=return_sequences, head=head)
    start = a.get_weights()
    b = gru_py.Sequential.from_config(a.get_config())
    b.set_weights(start)
    table = b.layers[0].weights[0]
    table[0] = np.random.default_rng(68).uniform(-3, 3, D)
    padding_row = table[0].copy()
    rng = np.random.default_rng(69)
    y_a = rng.standard_normal((len(ids), T, 1) if return_sequences else (len(ids), 1)
                              ).astype(np.float32)
    y_b = y_a.copy()
    if return_sequences:
        y_b[ids == 0] = 50.0
    losses = []
    for model, y in ((a, y_a), (b, y_b)):
        model.compile(optimizer="adam", loss="mse")
        losses.append([model.train_on_batch(ids[k:k + B], y[k:k + B])
                       for _ in range(2) for k in range(0, len(ids), B)])
    assert losses[0] == losses[1]
    assert len(set(losses[0])) > 1
    weights_a, weights_b = a.get_weights(), b.get_weights()
    np.testing.assert_array_equal(weights_a[0][1:], weights_b[0][1:])
    np.testing.assert_array_equal(weights_b[0][0], padding_row)  # no gradient reached it
    for wa, wb in zip(weights_a[1:], weights_b[1:]):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(weights_a[1], start[1]), "training changed nothing"


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_fully_masked_rows_output_zeros_and_carry_the_initial_state(kind, return_sequences):
    layer = _layer(kind, 70, return_sequences=return_sequences, return_state=True)
    x, initial = _x(71), _states(kind, 72)
    mask = np.ones((B, T), bool)
    mask[1] = False
    output, *last = layer(x, initial_state=initial, mask=mask, training=True)
    # backward: the empty row's state gradients go straight to its initial states
    d_states = [_x(73 + i, (B, H)) for i in range(STATES[kind])]
    layer.zero_gradients()
    d_x, d_initial = layer.backward(np.ones_like(output), *d_states)
    assert not d_x[1].any()
    for got, given in zip(d_initial, d_states):
        np.testing.assert_array_equal(got[1], given[1])
    assert not output[1].any()
    for got, state in zip(last, initial):
        np.testing.assert_array_equal(got[1], state[1])
    # the other rows are as if the empty row were not there
    rows = [0, 2]
    alone = layer(x[rows], initial_state=[s[rows] for s in initial])
    for got, want in zip([output] + last, alone):
        np.testing.assert_allclose(got[rows], want, **FWD_TOL)


def test_masks_propagate_through_return_sequences_and_stop_without_it():
    ids = MIXED
    model = gru_py.Sequential([Input(shape=(None,), dtype="int32"),
                               Embedding(V, D, mask_zero=True),
                               LSTM(H, return_sequences=True),
                               SimpleRNN(3, return_sequences=True), GRU(2)])
    rng = np.random.default_rng(74)
    model.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in model.get_weights()])
    got = model.predict(ids, verbose=0)
    for i, row in enumerate(ids):
        np.testing.assert_allclose(got[i], model.predict(row[row != 0][None], verbose=0)[0],
                                   **FWD_TOL, err_msg=f"row {i}")
    embedding, lstm, simple, gru = model.layers
    # the last layer saw the mask: without it the result differs
    unmasked = gru(simple(lstm(embedding(ids), mask=ids != 0), mask=ids != 0))
    assert not np.allclose(got, unmasked)
    assert _output_masks(model, ids) == [None]
    cut = gru_py.Sequential(model.layers[:3])
    np.testing.assert_array_equal(_output_masks(cut, ids)[0], ids != 0)


@pytest.mark.parametrize("kind", KINDS)
def test_masking_layer_feeds_its_mask_to_the_recurrent_layer(kind):
    x = _x(75, (B, T, 3))
    keep = MIXED != 0
    x[~keep] = -1.0
    model = gru_py.Sequential([Input(shape=(None, 3)), Masking(-1.0),
                               LAYERS[kind](H, return_sequences=True)])
    randomize(model.layers[1], 76)
    layer = model.layers[1]
    got = model(x)
    np.testing.assert_array_equal(got, layer(x, mask=keep))
    assert not np.allclose(got, layer(x))
    for i in range(B):
        alone = layer(x[i:i + 1][:, keep[i]])[0]
        np.testing.assert_allclose(got[i], _masked_sequence(alone, keep[i]), **FWD_TOL)


# -- 3. Bidirectional with masks -------------------------------------------------------------


def _bidirectional_and_parts(kind, merge_mode, seed, **flags):
    """A Bidirectional with random weights, and a forward and a go_backwards layer with its
    weights and the zero_output_for_mask that Bidirectional forces (return_sequences)."""
    layer = Bidirectional(LAYERS[kind](H, **flags), merge_mode=merge_mode)
    layer.build((B, T, I))
    randomize(layer, seed)
    zero = flags.get("return_sequences", False)
    forward = LAYERS[kind](H, zero_output_for_mask=zero, **flags)
    backward = LAYERS[kind](H, go_backwards=True, zero_output_for_mask=zero, **flags)
    count = len(layer.weights) // 2
    for part, weights in ((forward, layer.weights[:count]), (backward, layer.weights[count:])):
        part.build((B, T, I))
        part.set_weights(weights)
    return layer, forward, backward


@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_with_a_mask_merges_forward_and_backward_runs(kind, return_sequences,
                                                                    merge_mode):
    return_state = kind == "lstm"
    layer, forward, backward = _bidirectional_and_parts(
        kind, merge_mode, 80, return_sequences=return_sequences, return_state=return_state)
    x, mask = _x(81), MIXED != 0
    got = as_list(layer(x, mask=mask))
    out_f, *states_f = as_list(forward(x, mask=mask))
    out_b, *states_b = as_list(backward(x, mask=mask))
    if return_sequences:
        out_b = out_b[:, ::-1]
        assert not out_f[~mask].any() and not out_b[~mask].any()
    merged = {"concat": [np.concatenate([out_f, out_b], axis=-1)], "sum": [out_f + out_b],
              None: [out_f, out_b]}[merge_mode]
    want = merged + states_f + states_b
    assert len(got) == len(want) == len(merged) + (4 if return_state else 0)
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, **FWD_TOL, err_msg=f"output {i}")
    assert not np.allclose(got[0], as_list(layer(x))[0]), "the mask was ignored"


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_bidirectional_on_padded_ids_equals_each_sequence_alone(kind, return_sequences):
    inputs = Input(shape=(None,), dtype="int32")
    outputs = Bidirectional(LAYERS[kind](H, return_sequences=return_sequences))(
        Embedding(V, D, mask_zero=True)(inputs))
    model = gru_py.Model(inputs, outputs)
    rng = np.random.default_rng(82)
    model.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in model.get_weights()])
    for padding in ("right", "mixed"):
        ids = PADDINGS[padding]
        got = model.predict(ids, verbose=0)
        for i, row in enumerate(ids):
            keep = row != 0
            alone = model.predict(row[keep][None], verbose=0)[0]
            want = _masked_sequence(alone, keep, zero_output=True) if return_sequences \
                else alone
            np.testing.assert_allclose(got[i], want, **FWD_TOL,
                                       err_msg=f"row {i} of {padding} padding")


def test_bidirectional_lstm_with_a_mask_gradients_match_central_differences():
    layer = Bidirectional(LSTM(2, return_sequences=True, return_state=True), merge_mode="mul")
    layer.build((2, 4, I))
    randomize(layer, 83)
    mask = np.array([[True, False, True, True], [False, True, True, False]])
    states = [_x(85 + i, (2, 2)) for i in range(4)]  # h, c forward; h, c backward
    d_x = check_gradients(layer, _x(84, (2, 4, I)), states, 89,
                           "Bidirectional(LSTM) masked, seeds 83-89", mask=mask)
    assert not d_x[~mask].any()


# -- 4. stateful -----------------------------------------------------------------------------

STATEFUL_MAKERS = {
    "gru": lambda **kw: GRU(H, **kw),
    "lstm": lambda **kw: LSTM(H, **kw),
    "simple_rnn": lambda **kw: SimpleRNN(H, **kw),
    "stack": lambda **kw: RNN([LSTMCell(3), GRUCell(H)], **kw),
}


def _stateful_pair(kind, seed, how, return_sequences=True):
    """A stateful model with a fixed batch size of B (declared ``how``) and the stateless
    model with the same weights, both (B, time, I) -> the recurrent layer's output."""
    flags = {"return_sequences": return_sequences}
    if how == "input_batch_size":
        stateful = gru_py.Sequential([Input(shape=(None, I), batch_size=B),
                                      STATEFUL_MAKERS[kind](stateful=True, **flags)])
    elif how == "batch_input_shape":
        stateful = gru_py.Sequential([STATEFUL_MAKERS[kind](
            stateful=True, batch_input_shape=(B, None, I), **flags)])
    else:
        inputs = Input(batch_shape=(B, None, I))
        stateful = gru_py.Model(inputs, STATEFUL_MAKERS[kind](stateful=True, **flags)(inputs))
    stateless = gru_py.Sequential([Input(shape=(None, I)), STATEFUL_MAKERS[kind](**flags)])
    randomize(stateful, seed)
    stateless.set_weights(stateful.get_weights())
    return stateful, stateless


def _recurrent_layer(model):
    return next(layer for layer in model.layers if isinstance(layer, RNN))


@pytest.mark.parametrize("how", ["input_batch_size", "batch_input_shape", "functional"])
@pytest.mark.parametrize("kind", sorted(STATEFUL_MAKERS))
def test_stateful_chunks_equal_the_whole_sequence(kind, how):
    stateful, stateless = _stateful_pair(kind, 90, how)
    x = _x(91, (B, 3 * T, I))
    whole = stateless(x)
    chunks = [stateful(x[:, :4]), stateful.predict(x[:, 4:9], verbose=0), stateful(x[:, 9:])]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), whole, **FWD_TOL)
    layer = _recurrent_layer(stateful)
    probe = RNN(layer.cells, return_state=True)
    for got, want in zip(layer.states, probe(x)[1:]):
        np.testing.assert_allclose(got, want, **FWD_TOL)
    # reset_states restarts from zeros
    layer.reset_states()
    assert not any(s.any() for s in layer.states)
    np.testing.assert_allclose(stateful(x[:, :4]), whole[:, :4], **FWD_TOL)
    layer.reset_state()  # Keras 3's name
    np.testing.assert_array_equal(stateful(x[:, :4]), chunks[0])


def test_stateful_chunks_with_a_mask_carry_the_states_over_masked_steps():
    stateful, stateless = _stateful_pair("lstm", 103, "input_batch_size")
    layer = _recurrent_layer(stateful)
    x = _x(104, (B, 2 * T, I))
    mask = np.concatenate([MIXED, LEFT], axis=1) != 0
    whole = stateless.layers[0](x, mask=mask)
    chunks = np.concatenate([layer(x[:, :T], mask=mask[:, :T]),
                             layer(x[:, T:], mask=mask[:, T:])], axis=1)
    # (a chunk that starts with masked steps outputs zeros there, as each Keras call does)
    np.testing.assert_allclose(chunks[mask], whole[mask], **FWD_TOL)
    for got, want in zip(layer.states, RNN(layer.cells, return_state=True)(x, mask=mask)[1:]):
        np.testing.assert_allclose(got, want, **FWD_TOL)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_stateful_predict_advances_the_states_like_keras(kind):
    """Every predict batch continues the states of the one before: sample i of a batch
    continues sample i of the previous batch, across predict calls too."""
    stateful, stateless = _stateful_pair(kind, 92, "input_batch_size",
                                         return_sequences=False)
    x = _x(93, (2 * B, T, I))
    got = stateful.predict(x, batch_size=B, verbose=0)
    joined = np.concatenate([x[:B], x[B:]], axis=1)  # batch 2 after batch 1, in time
    np.testing.assert_allclose(got[:B], stateless(x[:B]), **FWD_TOL)
    np.testing.assert_allclose(got[B:], stateless(joined), **FWD_TOL)
    again = stateful.predict(x[:B], verbose=0)
    np.testing.assert_allclose(
        again, stateless(np.concatenate([joined, x[:B]], axis=1)), **FWD_TOL)
    assert not np.allclose(again, got[:B])


def test_stateful_training_carries_the_states_between_batches():
    """With a learning rate of zero the weights stay put: training on consecutive chunks
    computes the whole sequence's outputs and leaves its last states."""
    stateful, stateless = _stateful_pair("lstm", 94, "input_batch_size")
    stateful.compile(optimizer=gru_py.optimizers.SGD(learning_rate=0.0), loss="mse")
    x = _x(95, (B, 2 * T, I))
    y = np.zeros((B, T, H), np.float32)
    losses = [stateful.train_on_batch(chunk, y) for chunk in (x[:, :T], x[:, T:])]
    whole = stateless(x).astype(np.float64)
    assert losses[1] == pytest.approx(np.mean(whole[:, T:] ** 2), rel=1e-5)
    assert losses[1] != pytest.approx(np.mean(stateless(x[:, T:]).astype(np.float64) ** 2),
                                      rel=1e-3)
    layer = _recurrent_layer(stateful)
    _, h, c = RNN(layer.cells, return_state=True)(x)
    np.testing.assert_allclose(layer.states[0], h, **FWD_TOL)
    np.testing.assert_allclose(layer.states[1], c, **FWD_TOL)


def test_stateful_layer_uses_a_given_initial_state_and_keeps_its_last_states():
    stateful, _ = _stateful_pair("gru", 96, "input_batch_size", return_sequences=False)
    layer = _recurrent_layer(stateful)
    x, h0 = _x(97), _x(98, (B, H))
    got = layer(x, initial_state=h0)
    np.testing.assert_array_equal(got, RNN(layer.cells)(x, initial_state=h0))
    np.testing.assert_array_equal(layer.states[0], got)


def test_reset_states_before_build_does_nothing_as_in_keras():
    layer = GRU(H, stateful=True)
    layer.reset_states()  # Keras 3: no states yet, nothing to reset
    layer.build((B, T, I))
    assert [s.shape for s in layer.states] == [(B, H)] and not layer.states[0].any()


@pytest.mark.parametrize("kind", ["gru", "stack"])
def test_stateful_batch_size_mismatch_names_both_sizes(kind):
    stateful, _ = _stateful_pair(kind, 99, "input_batch_size")
    with pytest.raises(ValueError, match=rf"batches of {B}, got a batch of {B - 1}"):
        stateful(_x(100, (B - 1, T, I)))
    stateful.compile(optimizer="sgd", loss="mse")
    x = _x(101, (2 * B, T, I))
    with pytest.raises(ValueError, match=rf"batches of {B}, got a batch of 4"):
        stateful.fit(x, np.zeros((2 * B, T, H), np.float32), batch_size=4, verbose=0)


@pytest.mark.parametrize("build", ["layer", "sequential", "functional", "first_batch"])
def test_stateful_without_a_fixed_batch_size_raises_at_build(build):
    message = r"stateful=True.*batch size must be static.*Input\(batch_size=\.\.\.\)"
    with pytest.raises(ValueError, match=message):
        if build == "layer":
            GRU(H, stateful=True).build((None, T, I))
        elif build == "sequential":
            gru_py.Sequential([Input(shape=(T, I)), LSTM(H, stateful=True)])
        elif build == "functional":
            inputs = Input(shape=(None, I))
            SimpleRNN(H, stateful=True)(inputs)
        else:  # Sequential built from its first batch: the batch axis is left free
            gru_py.Sequential([GRU(H, stateful=True)]).predict(_x(102), verbose=0)


# -- 5. dropout and recurrent dropout ---------------------------------------------------------

DROPOUTS = {
    "dropout": {"dropout": 0.3},
    "dropout_impl1": {"dropout": 0.3, "implementation": 1},
    "recurrent": {"recurrent_dropout": 0.4},
    "both": {"dropout": 0.25, "recurrent_dropout": 0.5},
}


def _dropout_layer(kind, weight_seed, rates, **flags):
    kwargs = dict(rates)
    if kind == "simple_rnn":
        kwargs.pop("implementation", None)  # Keras' SimpleRNN has no implementation
    return _layer(kind, weight_seed, return_sequences=True, **kwargs, **flags)


def _drawn_masks(kind, rates, seed, calls):
    """The masks the layer's generator draws for ``calls`` calls, in its order: for each
    call the input mask, then the recurrent one; one per gate block under recurrent
    dropout or implementation=1, else one shared (B, n) mask."""
    rng = np.random.default_rng(seed)
    per_gate = rates.get("recurrent_dropout") or rates.get("implementation") == 1
    shape = (GATES[kind],) if per_gate else ()
    result = []
    for _ in range(calls):
        masks = []
        for name, width in (("dropout", I), ("recurrent_dropout", H)):
            rate = rates.get(name, 0.0)
            keep = (rng.random(shape + (B, width), dtype=np.float32) >= rate) if rate else None
            masks.append(None if keep is None else
                         keep.astype(np.float32) / np.float32(1.0 - rate))
        result.append(masks)
    return result


@pytest.mark.parametrize("rates", sorted(DROPOUTS))
@pytest.mark.parametrize("kind", KINDS)
def test_dropout_changes_nothing_at_inference(kind, rates):
    layer = _dropout_layer(kind, 110, DROPOUTS[rates], return_state=True)
    plain = _layer(kind, 110, return_sequences=True, return_state=True)
    x, states, mask = _x(111), _states(kind, 112), MIXED != 0
    for got, want in zip(layer(x, initial_state=states, mask=mask),
                         plain(x, initial_state=states, mask=mask)):
        np.testing.assert_array_equal(got, want)
    assert not np.allclose(layer(x, training=True)[0], plain(x)[0])


@pytest.mark.parametrize("kind, rates", [
    (kind, rates) for kind in KINDS for rates in sorted(DROPOUTS)
    if not (kind == "simple_rnn" and rates == "dropout_impl1")])  # no implementation arg
def test_dropout_masks_come_from_the_seed_and_change_from_call_to_call(kind, rates):
    """Each training call draws new masks from the layer's seeded generator, and uses
    them for the whole sequence (the op applies one mask per sequence)."""
    seed = 113
    layer = _dropout_layer(kind, 114, DROPOUTS[rates], seed=seed)
    x, mask = _x(115), MIXED != 0
    outputs = [layer(x, mask=mask, training=True) for _ in range(2)]
    for call, (drop, recurrent) in enumerate(_drawn_masks(kind, DROPOUTS[rates], seed, 2)):
        want = _ops_forward(layer.cell, x, mask=mask, dropout_mask=drop,
                            recurrent_dropout_mask=recurrent).outputs
        np.testing.assert_array_equal(outputs[call], want, err_msg=f"call {call}")
    assert not np.array_equal(outputs[0], outputs[1])
    # the same seed gives the same sequence of masks
    twin = _dropout_layer(kind, 114, DROPOUTS[rates], seed=seed)
    for call in range(2):
        np.testing.assert_array_equal(twin(x, mask=mask, training=True), outputs[call])
    other = _dropout_layer(kind, 114, DROPOUTS[rates], seed=seed + 1)
    assert not np.array_equal(other(x, mask=mask, training=True), outputs[0])


def test_unseeded_dropout_follows_set_random_seed():
    runs = []
    for _ in range(2):
        set_random_seed(116)
        layer = GRU(H, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
        runs.append([layer(_x(117), training=True) for _ in range(2)])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(runs[0][0], runs[0][1])


def _identity_simple_rnn(**kwargs):
    """A linear SimpleRNN with identity or zero kernels, to read the masks off the
    outputs."""
    layer = SimpleRNN(H, activation=None, return_sequences=True, use_bias=False, **kwargs)
    layer.build((None, None, H))
    return layer


def test_input_dropout_mask_is_constant_over_time_and_scaled_by_the_kept_fraction():
    layer = _identity_simple_rnn(dropout=0.5, seed=3)
    layer.set_weights([np.eye(H), np.zeros((H, H))])
    x = np.ones((B, T, H), np.float32)  # h_t = (x_t * mask) @ I = mask
    first, second = (layer(x, training=True) for _ in range(2))
    for out in (first, second):
        np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1], out.shape))
        assert set(np.unique(out)) == {0.0, 2.0}  # 1 / (1 - 0.5)
        assert len({tuple(row) for row in out[:, 0]}) > 1, "every sample got the same mask"
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(layer(x), x)


def test_recurrent_dropout_mask_is_constant_over_time_and_scaled_by_the_kept_fraction():
    layer = _identity_simple_rnn(recurrent_dropout=0.5, seed=4)
    layer.set_weights([np.zeros((H, H)), np.eye(H)])
    x, h0 = np.zeros((B, T, H), np.float32), np.ones((B, H), np.float32)
    # h_t = (h_{t-1} * mask) @ I: a kept unit doubles at every step, a dropped one is 0
    out = layer(x, initial_state=h0, training=True)
    keep = out[:, 0] != 0
    assert keep.any() and not keep.all()
    powers = 2.0 ** np.arange(1, T + 1, dtype=np.float32)
    want = np.where(keep[:, None, :], powers[None, :, None], np.float32(0.0))
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(layer(x, initial_state=h0), np.ones((B, T, H)))


@pytest.mark.parametrize("kind", KINDS)
def test_a_cell_stepped_in_training_keeps_its_dropout_masks_like_keras(kind):
    """Keras' DropoutRNNCell draws its masks at the first step and reuses them until
    reset_dropout_mask() and reset_recurrent_dropout_mask(), which RNN calls after each
    sequence: a cell stepped by hand in training runs like the layer with the same seed."""
    rates = {"dropout": 0.4, "recurrent_dropout": 0.3, "seed": 7}
    layer = _layer(kind, 141, return_sequences=True, **rates)
    stepped = CELLS[kind](H, **rates)
    stepped.build((None, I))
    stepped.set_weights(layer.get_weights())
    x, initial = _x(142), _states(kind, 143)
    for sequence in range(2):
        want = layer(x, initial_state=initial, training=True)
        states = list(initial)
        for t in range(T):
            out, states = stepped(x[:, t], states, training=True)
            np.testing.assert_allclose(out, want[:, t], **FWD_TOL,
                                       err_msg=f"sequence {sequence}, step {t}")
        stepped.reset_dropout_mask()
        stepped.reset_recurrent_dropout_mask()


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_gradients_match_central_differences_with_the_masks_held(kind):
    layer = _layer(kind, 118, units=3, dropout=0.3, recurrent_dropout=0.3,
                   return_sequences=True, return_state=True)
    x = _x(119, (2, 3, I))
    check_gradients(layer, x, _states(kind, 120, batch=2, units=3), 121,
                     f"{kind} with dropout, seeds 118-121", dropout_seed=5)


@pytest.mark.parametrize("kind", KINDS)
def test_fit_with_dropout_and_recurrent_dropout_lowers_the_loss(kind):
    set_random_seed(122)
    rng = np.random.default_rng(123)
    x = rng.standard_normal((32, T, I)).astype(np.float32)
    y = np.cumsum(x[..., :1], axis=1)[:, -1] / T
    model = gru_py.Sequential([Input(shape=(T, I)),
                               LAYERS[kind](8, dropout=0.2, recurrent_dropout=0.2, seed=1),
                               Dense(1)])
    model.compile(optimizer=gru_py.optimizers.Adam(learning_rate=0.01), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=8, epochs=15, shuffle=False, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.5 * before, f"{kind}: loss {before} -> {after}"


# -- 6. gate activations ---------------------------------------------------------------------

GATE_NAMES = {"gru": {"z", "r", "h"}, "lstm": {"i", "f", "o", "c", "h"},
              "simple_rnn": {"h"}}
# gate name -> block of the kernel columns it reads (Keras' GRU [z|r|h], LSTM [i|f|c|o])
GATE_BLOCKS = {"gru": {"z": 0, "r": 1}, "lstm": {"i": 0, "f": 1, "o": 3}, "simple_rnn": {}}


def _sigmoid_gate(cell, block, x_t, h_prev):
    """sigmoid of one gate block's pre-activation at one step, in float64."""
    kernel, recurrent_kernel, bias = (np.asarray(w, np.float64) for w in cell.get_weights())
    cols = slice(block * cell.units, (block + 1) * cell.units)
    pre = x_t @ kernel[:, cols] + h_prev @ recurrent_kernel[:, cols]
    pre += bias[..., cols].sum(axis=0) if bias.ndim == 2 else bias[cols]  # GRU: both rows
    return 1.0 / (1.0 + np.exp(-pre))


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_gate_activations_are_the_gates_of_the_layers_run(kind, go_backwards, masked):
    layer = _layer(kind, 130, return_sequences=True, go_backwards=go_backwards,
                   dropout=0.5, recurrent_dropout=0.5)
    x, initial = _x(131), _states(kind, 132)
    mask = (MIXED != 0) if masked else None
    gates = layer.gate_activations(x, initial_state=initial, mask=mask)
    assert set(gates) == GATE_NAMES[kind]
    for name, value in gates.items():
        assert value.shape == (B, T, H) and value.dtype == np.float32, name
    output = layer(x, initial_state=initial, mask=mask)
    # gates, like outputs, come in processing order: time reversed with go_backwards
    skipped = np.zeros((B, T), bool) if mask is None else ~mask
    if go_backwards:
        skipped, x = skipped[:, ::-1], x[:, ::-1]
    # h is the state after each step (no dropout): the layer's output at the steps it
    # runs, the state carried over at the steps a mask skips
    np.testing.assert_array_equal(gates["h"][~skipped], output[~skipped])
    h_prev = np.concatenate([initial[0][:, None], gates["h"][:, :-1]], axis=1)
    np.testing.assert_array_equal(gates["h"][skipped], h_prev[skipped])
    for name, block in GATE_BLOCKS[kind].items():
        value = gates[name]
        assert np.isnan(value[skipped]).all() and not np.isnan(value[~skipped]).any(), name
        kept = value[~skipped]
        assert np.all((kept >= 0) & (kept <= 1)), name
        want = _sigmoid_gate(layer.cell, block, x.astype(np.float64), h_prev)
        np.testing.assert_allclose(kept, want[~skipped], **FWD_TOL, err_msg=name)
    if kind == "lstm":
        c_prev = np.concatenate([initial[1][:, None], gates["c"][:, :-1]], axis=1)
        assert not np.isnan(gates["c"]).any()
        np.testing.assert_allclose(gates["h"][~skipped],
                                   (gates["o"] * np.tanh(gates["c"]))[~skipped], **FWD_TOL)
        # c_t - f * c_{t-1} = i * tanh(.) is at most |i| in size
        assert np.all(np.abs(gates["c"] - gates["f"] * c_prev)[~skipped]
                      <= gates["i"][~skipped] + 1e-6)


def test_gate_activations_of_a_stack_are_a_list_one_dict_per_cell():
    rnn, _ = _mixed_stack(133, return_sequences=True)
    x = _x(134)
    gates = rnn.gate_activations(x, mask=MIXED != 0)
    assert isinstance(gates, list) and [set(g) for g in gates] == [
        GATE_NAMES["lstm"], GATE_NAMES["gru"], GATE_NAMES["simple_rnn"]]
    assert [g["h"].shape[-1] for g in gates] == [3, 2, H]
    np.testing.assert_array_equal(gates[-1]["h"], rnn(x, mask=MIXED != 0))
    assert np.isnan(gates[1]["z"][~(MIXED != 0)]).all()


@pytest.mark.parametrize("kind", KINDS)
def test_gate_activations_between_forward_and_backward_change_nothing(kind):
    layer = _layer(kind, 135, return_sequences=True, dropout=0.2, recurrent_dropout=0.2)
    x, mask = _x(136), MIXED != 0
    d_out = _x(137, (B, T, H))
    results = []
    for peek in (False, True):
        layer.cell._rng = np.random.default_rng(6)
        out = layer(x, mask=mask, training=True)
        if peek:
            layer.gate_activations(_x(138, (B + 2, T + 1, I)))
        layer.zero_gradients()
        d_x, _ = layer.backward(d_out)
        results.append([out, d_x] + [g.copy() for g in layer.gradients])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_gate_activations_leave_a_stateful_layers_states_alone():
    stateful, _ = _stateful_pair("lstm", 139, "input_batch_size")
    layer = _recurrent_layer(stateful)
    x = _x(140)
    stateful(x)
    before = layer.states
    gates = layer.gate_activations(x)
    for a, b in zip(layer.states, before):
        np.testing.assert_array_equal(a, b)
    # ... but start from them, as the layer's next call would
    np.testing.assert_array_equal(gates["h"], stateful(x))


# -- 7. bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_bad_masks_raise_naming_the_mask(kind):
    layer = _layer(kind, 150)
    x = _x(151)
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, timesteps\) = "
                                         rf"\({B}, {T}\), got shape \({B}, {T + 1}\)"):
        layer(x, mask=np.ones((B, T + 1), bool))
    with pytest.raises(ValueError, match="mask must have shape"):
        layer(x, mask=np.ones(T, bool))
    for bad in (np.full((B, T), 2), np.full((B, T), 0.5), np.full((B, T), "yes")):
        with pytest.raises(TypeError, match="mask must be booleans"):
            layer(x, mask=bad)
    # 0/1 numbers are read as booleans
    np.testing.assert_array_equal(layer(x, mask=(MIXED != 0).astype(np.int8)),
                                  layer(x, mask=MIXED != 0))


def test_bad_masks_raise_in_bidirectional_and_stacks():
    x = _x(152)
    for layer in (Bidirectional(LSTM(H)), RNN([LSTMCell(H), SimpleRNNCell(H)])):
        with pytest.raises(ValueError, match="mask must have shape"):
            layer(x, mask=np.ones((B + 1, T), bool))
        with pytest.raises(TypeError, match="mask must be booleans"):
            layer(x, mask=np.full((B, T), 3))


@pytest.mark.parametrize("kind", KINDS)
def test_initial_state_with_the_wrong_count_or_shape_raises_naming_it(kind):
    layer = _layer(kind, 153)
    x, states = _x(154), _states(kind, 155)
    count = STATES[kind]
    message = rf"initial_state must hold one array per state.*\({count}\), got {count + 1}"
    with pytest.raises(ValueError, match=message):
        layer(x, initial_state=states + [states[0]])
    if kind == "lstm":
        with pytest.raises(ValueError, match=r"\(2\), got 1"):
            layer(x, initial_state=states[0])  # h0 alone
        with pytest.raises(ValueError, match="initial_state must hold both h0 and c0"):
            layer(x, initial_state=[states[0], None])
    bad = [np.zeros((B, H + 1), np.float32)] + states[1:]
    with pytest.raises(ValueError, match=rf"initial_state.* must have shape \(batch, units\) "
                                         rf"= \({B}, {H}\), got shape \({B}, {H + 1}\)"):
        layer(x, initial_state=bad)
    with pytest.raises(ValueError, match=r"initial_state.* must be 2-D"):
        layer(x, initial_state=[s[0] for s in states])


def test_a_cell_given_the_wrong_states_raises_naming_them():
    cell = LSTMCell(H)
    cell.build((B, I))
    with pytest.raises(ValueError, match=r"initial_state must be a pair \(h0, c0\)"):
        cell(_x(156, (B, I)), [np.zeros((B, H), np.float32)])
    with pytest.raises(ValueError, match="2-D"):
        cell(_x(157), cell.get_initial_state(B))


@pytest.mark.parametrize("make", [GRU, LSTM, SimpleRNN, GRUCell, LSTMCell, SimpleRNNCell],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("argument", ["dropout", "recurrent_dropout"])
def test_bad_dropout_rates_raise_naming_the_argument(make, argument):
    for bad in ("0.5", None, [0.5], True):
        with pytest.raises(TypeError, match=rf"{argument} must be a float in \[0, 1\], got"):
            make(H, **{argument: bad})
    with pytest.raises(ValueError, match=rf"{argument} must be a float in \[0, 1\]"):
        make(H, **{argument: float("nan")})
    # out of range is clamped, as Keras does
    assert getattr(make(H, **{argument: 1.5}), argument) == 1.0
    assert getattr(make(H, **{argument: -0.5}), argument) == 0.0


@pytest.mark.parametrize("make", [LSTM, SimpleRNN, LSTMCell, SimpleRNNCell],
                         ids=lambda c: c.__name__)
def test_bad_constructor_arguments_raise_naming_them(make):
    with pytest.raises(ValueError, match="argument `units`"):
        make(0)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        make(H, seed=-1)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        make(H, seed=1.5)
    with pytest.raises(ValueError, match="Unrecognized keyword arguments.*'reset_after'"):
        make(H, reset_after=False)
    with pytest.raises(NotImplementedError, match="kernel_constraint"):
        make(H, kernel_constraint="non_neg")
    with pytest.raises(ValueError, match="activation"):
        make(H, activation="no_such_activation")


def test_bad_layer_only_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="implementation must be 1 or 2, got 3"):
        LSTM(H, implementation=3)
    with pytest.raises(ValueError, match="use_cudnn"):
        LSTM(H, use_cudnn="yes")
    for layer in (LSTM(H), SimpleRNN(H)):
        with pytest.raises(ValueError, match=r"3-D \(batch, timesteps, features\)"):
            layer(_x(158, (B, I)))
    layer = _layer("lstm", 159)
    with pytest.raises(ValueError, match=rf"3-D \(batch, timesteps, {I}\)"):
        layer(_x(160, (B, T, I + 1)))
    layer = _layer("lstm", 161, return_state=True)
    layer(_x(162), training=True)
    with pytest.raises(ValueError, match="expected at most 2 state gradients, got 3"):
        layer.backward(None, *[np.zeros((B, H), np.float32)] * 3)
