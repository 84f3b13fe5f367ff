"""Tests of gru_py's models against Keras 3: Sequential and functional construction,
summary(), and the training API's semantics (API_SPEC §4): fit's batching, validation,
epochs and logs, evaluate/predict, sample and class weights, freezing, regularizers, the
custom training loop, seeding, input errors and non-finite losses.

Every test seeds gru_py's global generator (autouse fixture) and draws its data from a
fixed-seed NumPy generator, so runs are deterministic. Data and layers are tiny.
"""

import math

import numpy as np
import pytest

import gru_py
from gru_py import callbacks, layers, optimizers
from gru_py.utils import set_random_seed

SEED = 1234
# Two float32 computations of the same thing along the same code path.
TIGHT = {"rtol": 1e-6, "atol": 1e-6}


@pytest.fixture(autouse=True)
def _seeded():
    set_random_seed(SEED)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _seq_data(n=24, t=6, f=3, seed=0):
    """A learnable regression: y = mean over time of the first feature."""
    x = _rng(seed).normal(size=(n, t, f)).astype(np.float32)
    y = x[:, :, :1].mean(axis=1).astype(np.float32)
    return x, y


def _gru_model(units=4, features=3, out=1, optimizer="sgd", loss="mse", metrics=None,
               **gru_kwargs):
    model = gru_py.Sequential([
        layers.GRU(units, input_shape=(None, features), **gru_kwargs),
        layers.Dense(out),
    ])
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def _dense_model(features=3, units=2, optimizer="sgd", loss="mse", **dense_kwargs):
    model = gru_py.Sequential([layers.Dense(units, input_shape=(features,), **dense_kwargs)])
    model.compile(optimizer=optimizer, loss=loss)
    return model


def _copy_weights(src, dst):
    dst.set_weights(src.get_weights())


def _weights_equal(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a, b))


class Recorder(callbacks.Callback):
    """Records the hooks fit calls: epochs begun, train batches per epoch, test batches,
    and every epoch's logs."""

    def __init__(self):
        super().__init__()
        self.epochs_begun = []
        self.train_batches = []
        self.test_batches = 0
        self.epoch_logs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs_begun.append(epoch)
        self.train_batches.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.train_batches[-1] += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test_batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_logs.append(dict(logs))


# GRU(4) on 3 features: 3 * 4 * (3 + 4) + 2 * 3 * 4 = 108; Dense(4 -> 1): 5.
GRU4_DENSE1_PARAMS = 113


# -- Sequential -------------------------------------------------------------------------


def test_sequential_list_and_add_give_the_same_model():
    listed = gru_py.Sequential([layers.GRU(4, input_shape=(None, 3)), layers.Dense(1)])
    added = gru_py.Sequential()
    added.add(layers.GRU(4, input_shape=(None, 3)))
    added.add(layers.Dense(1))
    assert [type(layer) for layer in listed.layers] == [layers.GRU, layers.Dense]
    assert [type(layer) for layer in added.layers] == [layers.GRU, layers.Dense]
    assert listed.count_params() == added.count_params() == GRU4_DENSE1_PARAMS
    _copy_weights(listed, added)
    x, _ = _seq_data()
    np.testing.assert_array_equal(listed.predict(x, verbose=0), added.predict(x, verbose=0))


def test_input_shape_on_first_layer_builds_at_once():
    model = gru_py.Sequential([layers.GRU(4, input_shape=(None, 3)), layers.Dense(1)])
    assert model.built
    assert model.count_params() == GRU4_DENSE1_PARAMS
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 4)" in text and "(None, 1)" in text
    assert f"Total params: {GRU4_DENSE1_PARAMS:,}" in text
    assert "unbuilt" not in text


def test_sequential_without_input_shape_builds_from_the_first_batch():
    model = gru_py.Sequential([layers.GRU(4), layers.Dense(1)])
    assert not model.built
    with pytest.raises(ValueError, match="isn't built"):
        model.count_params()
    lines = []
    model.summary(print_fn=lines.append)
    assert any("0 (unbuilt)" in line for line in lines)
    x, _ = _seq_data()
    out = model.predict(x, verbose=0)
    assert out.shape == (len(x), 1)
    assert model.built and model.count_params() == GRU4_DENSE1_PARAMS


def test_input_tensor_as_first_element():
    model = gru_py.Sequential([gru_py.Input(shape=(None, 3)), layers.GRU(4), layers.Dense(1)])
    assert model.built
    assert model.count_params() == GRU4_DENSE1_PARAMS
    # As in Keras 3, the Input is not one of model.layers.
    assert [type(layer) for layer in model.layers] == [layers.GRU, layers.Dense]


def test_none_time_axis_accepts_batches_of_different_lengths():
    model = gru_py.Sequential([layers.GRU(4, return_sequences=True, input_shape=(None, 3))])
    x9 = _rng().normal(size=(5, 9, 3)).astype(np.float32)
    out9 = model.predict(x9, verbose=0)
    out5 = model.predict(x9[:, :5], verbose=0)
    assert out9.shape == (5, 9, 4) and out5.shape == (5, 5, 4)
    # The recurrence is causal: the first 5 steps of the long batch are the short batch.
    np.testing.assert_allclose(out9[:, :5], out5, **TIGHT)


@pytest.mark.parametrize("declared", [True, False], ids=["input_shape", "lazy"])
def test_sequential_rejects_a_layer_with_several_outputs(declared):
    gru = layers.GRU(3, return_state=True, **({"input_shape": (4, 2)} if declared else {}))
    with pytest.raises(ValueError, match="several outputs"):
        model = gru_py.Sequential([gru])
        model.predict(np.zeros((2, 4, 2), np.float32), verbose=0)


# -- functional API ------------------------------------------------------------------------


def _two_branch_model():
    a = gru_py.Input(shape=(5, 3), name="a")
    b = gru_py.Input(shape=(5, 3), name="b")
    ga = layers.GRU(4, name="ga")(a)
    gb = layers.GRU(4, name="gb")(b)
    added = layers.Add(name="add")([ga, gb])
    joined = layers.Concatenate(name="cat")([ga, added])
    out = layers.Dense(1, name="out")(joined)
    model = gru_py.Model([a, b], out)
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    return model


def _two_inputs(n=16):
    rng = _rng(3)
    xa = rng.normal(size=(n, 5, 3)).astype(np.float32)
    xb = rng.normal(size=(n, 5, 3)).astype(np.float32)
    y = (xa[:, :, 0].mean(1) - xb[:, :, 1].mean(1))[:, None].astype(np.float32)
    return xa, xb, y


def test_functional_branches_and_merges_compute_the_graph():
    model = _two_branch_model()
    assert model.input_names == ["a", "b"]
    xa, xb, _ = _two_inputs()
    ga = model.get_layer("ga")(xa)
    gb = model.get_layer("gb")(xb)
    expected = model.get_layer("out")(np.concatenate([ga, ga + gb], axis=-1))
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), expected, **TIGHT)


def test_functional_fit_with_list_and_with_dict_keyed_by_input_names():
    by_list, by_dict = _two_branch_model(), _two_branch_model()
    _copy_weights(by_list, by_dict)
    xa, xb, y = _two_inputs()
    start = by_list.get_weights()
    h1 = by_list.fit([xa, xb], y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    # Keys in the other order: matched by name, not position.
    h2 = by_dict.fit({"b": xb, "a": xa}, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert h1.history["loss"] == h2.history["loss"]
    assert _weights_equal(by_list.get_weights(), by_dict.get_weights())
    assert not _weights_equal(start, by_list.get_weights())


def test_functional_dict_missing_an_input_raises():
    model = _two_branch_model()
    xa, _, y = _two_inputs()
    with pytest.raises(ValueError, match="'b'"):
        model.fit({"a": xa}, y, verbose=0)


def _encoder_decoder():
    enc_in = gru_py.Input(shape=(6, 3), name="enc")
    dec_in = gru_py.Input(shape=(4, 2), name="dec")
    _, state = layers.GRU(5, return_state=True, name="encoder")(enc_in)
    seq = layers.GRU(5, return_sequences=True, name="decoder")(dec_in, initial_state=state)
    out = layers.Dense(1, name="head")(seq)
    model = gru_py.Model([enc_in, dec_in], out)
    model.compile(optimizer=optimizers.SGD(0.5), loss="mse")
    rng = _rng(4)
    a = rng.normal(size=(12, 6, 3)).astype(np.float32)
    b = rng.normal(size=(12, 4, 2)).astype(np.float32)
    # The target depends on the encoder's input only: the decoder must read the state.
    y = np.repeat(a[:, :, :1].mean(axis=1, keepdims=True), 4, axis=1).astype(np.float32)
    return model, a, b, y


def test_encoder_decoder_initial_state_gradient_reaches_the_encoder():
    model, a, b, y = _encoder_decoder()
    encoder = model.get_layer("encoder")
    before = encoder.get_weights()
    model.train_on_batch([a, b], y)
    after = encoder.get_weights()
    for w0, w1 in zip(before, after):
        assert not np.array_equal(w0, w1)


def test_encoder_decoder_encoder_gradient_matches_central_differences():
    model, a, b, y = _encoder_decoder()
    encoder = model.get_layer("encoder")
    _, grads = model.compute_loss_and_gradients([a, b], y)
    # trainable_weights: encoder (kernel, recurrent_kernel, bias) come first.
    assert [g.shape for g in grads[:3]] == [w.shape for w in encoder.weights]
    kernel_grad = grads[0]
    weights = encoder.get_weights()
    eps = 1e-3
    largest = np.argsort(-np.abs(kernel_grad).ravel())[:3]
    for flat in largest:
        index = np.unravel_index(flat, kernel_grad.shape)
        losses_at = []
        for sign in (1, -1):
            shifted = [w.copy() for w in weights]
            shifted[0][index] += sign * eps
            encoder.set_weights(shifted)
            losses_at.append(model.test_on_batch([a, b], y))
        encoder.set_weights(weights)
        numeric = (losses_at[0] - losses_at[1]) / (2 * eps)
        assert abs(kernel_grad[index]) > 1e-3
        np.testing.assert_allclose(kernel_grad[index], numeric, rtol=2e-2, atol=1e-4)


def test_encoder_decoder_trains():
    model, a, b, y = _encoder_decoder()
    history = model.fit([a, b], y, batch_size=4, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


def test_output_depending_on_a_foreign_input_raises():
    a = gru_py.Input(shape=(3,), name="mine")
    other = gru_py.Input(shape=(3,), name="foreign")
    out = layers.Add()([a, other])
    with pytest.raises(ValueError, match="foreign"):
        gru_py.Model(a, out)


def test_unused_input_is_accepted_as_in_keras():
    # Keras 3 keeps inputs that do not reach the outputs (they may feed losses).
    a = gru_py.Input(shape=(3,), name="used")
    b = gru_py.Input(shape=(3,), name="unused")
    model = gru_py.Model([a, b], layers.Dense(2, name="d")(a))
    model.compile(optimizer="sgd", loss="mse")
    rng = _rng(5)
    xa, xb = rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(8, 3)).astype(
        np.float32)
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0),
                               model.get_layer("d")(xa), **TIGHT)
    model.fit([xa, xb], np.zeros((8, 2), np.float32), verbose=0)


def test_shared_layer_raises_clearly():
    a = gru_py.Input(shape=(3,))
    shared = layers.Dense(3, name="twice")
    with pytest.raises(NotImplementedError, match="'twice' is called more than once"):
        gru_py.Model(a, shared(shared(a)))


def test_predict_returns_a_list_for_several_outputs():
    a = gru_py.Input(shape=(5, 3))
    seq, state = layers.GRU(4, return_sequences=True, return_state=True)(a)
    model = gru_py.Model(a, [seq, layers.Dense(2)(state)])
    x = _rng().normal(size=(7, 5, 3)).astype(np.float32)
    out = model.predict(x, batch_size=3, verbose=0)
    assert isinstance(out, list) and len(out) == 2
    assert out[0].shape == (7, 5, 4) and out[1].shape == (7, 2)
    np.testing.assert_allclose(out[0], model(x)[0], **TIGHT)


# -- summary ---------------------------------------------------------------------------------


def _summary_lines(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines


def test_summary_gru128_on_100_features():
    model = gru_py.Sequential([layers.GRU(128, input_shape=(None, 100))], name="my_model")
    lines = _summary_lines(model)
    assert lines[0] == 'Model: "my_model"'
    row = next(line for line in lines if "(GRU)" in line)
    assert "(None, 128)" in row and row.rstrip().endswith("88,320")
    text = "\n".join(lines)
    assert " Total params: 88,320 (345.00 KB)" in text
    assert " Trainable params: 88,320 (345.00 KB)" in text
    assert " Non-trainable params: 0 (0.00 B)" in text


def test_summary_counts_a_frozen_layer_as_non_trainable():
    model = gru_py.Sequential([
        layers.GRU(128, input_shape=(None, 100), trainable=False),
        layers.Dense(10),
    ])
    text = "\n".join(_summary_lines(model))
    assert " Total params: 89,610 (350.04 KB)" in text
    assert " Trainable params: 1,290 (5.04 KB)" in text
    assert " Non-trainable params: 88,320 (345.00 KB)" in text


def test_summary_of_a_functional_model_has_connected_to_column():
    # API_SPEC §4.4: non-sequential models add a `Connected to` column (line length 108).
    lines = _summary_lines(_two_branch_model())
    header = next(line for line in lines if "Layer (type)" in line)
    assert "Connected to" in header


# -- fit: batches, validation, epochs, logs --------------------------------------------------


def test_default_batch_size_is_32_and_the_last_partial_batch_is_kept():
    x, y = _seq_data(n=70)
    fitted = _gru_model(optimizer=optimizers.SGD(0.1))
    manual = _gru_model(optimizer=optimizers.SGD(0.1))
    _copy_weights(fitted, manual)
    recorder = Recorder()
    history = fitted.fit(x, y, shuffle=False, callbacks=[recorder], verbose=0)
    assert recorder.train_batches == [3]
    assert history.params["steps"] == 3
    for start in (0, 32, 64):  # 32, 32 and the last 6 samples
        manual.train_on_batch(x[start:start + 32], y[start:start + 32])
    np.testing.assert_allclose(np.concatenate([w.ravel() for w in fitted.get_weights()]),
                               np.concatenate([w.ravel() for w in manual.get_weights()]),
                               **TIGHT)


@pytest.mark.parametrize("n, batch_size, steps", [(10, 3, 4), (64, 32, 2), (65, 32, 3),
                                                  (5, 64, 1), (7, 1, 7)])
def test_steps_per_epoch_is_ceil_n_over_batch_size(n, batch_size, steps):
    x, y = _seq_data(n=n)
    recorder = Recorder()
    _gru_model().fit(x, y, batch_size=batch_size, epochs=2, callbacks=[recorder], verbose=0)
    assert recorder.train_batches == [steps, steps] == [math.ceil(n / batch_size)] * 2


@pytest.mark.parametrize("n, split, train_count", [(20, 0.25, 15), (10, 0.25, 7),
                                                   (10, 0.33, 6)])
def test_validation_split_takes_the_last_samples_before_shuffling(n, split, train_count):
    x, y = _seq_data(n=n)
    y[train_count:] += 10.0  # the tail is far from anything else: its loss is recognisable
    model = _gru_model()
    recorder = Recorder()
    history = model.fit(x, y, batch_size=1, epochs=2, validation_split=split, shuffle=True,
                        callbacks=[recorder], verbose=0)
    assert recorder.train_batches == [train_count, train_count]
    assert recorder.test_batches == 2 * (n - train_count)
    tail = model.evaluate(x[train_count:], y[train_count:], verbose=0)
    head = model.evaluate(x[:n - train_count], y[:n - train_count], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(tail, rel=1e-6)
    assert abs(history.history["val_loss"][-1] - head) > 1.0


@pytest.mark.parametrize("n, split", [(1, 0.5), (2, 0.9), (10, 1e-20)])
def test_validation_split_leaving_an_empty_side_raises(n, split):
    x, y = _seq_data(n=n)
    with pytest.raises(ValueError, match="validation_split"):
        _gru_model().fit(x, y, validation_split=split, verbose=0)


def test_validation_data_overrides_validation_split():
    x, y = _seq_data(n=12)
    x_val, y_val = _seq_data(n=5, seed=9)
    model = _gru_model()
    recorder = Recorder()
    history = model.fit(x, y, batch_size=4, validation_split=0.5,
                        validation_data=(x_val, y_val), callbacks=[recorder], verbose=0)
    assert recorder.train_batches == [3]  # all 12 samples trained
    assert history.history["val_loss"][0] == pytest.approx(
        model.evaluate(x_val, y_val, verbose=0), rel=1e-6)


def test_shuffle_false_is_deterministic_and_shuffle_true_reorders():
    x, y = _seq_data(n=24)
    models = [_gru_model(optimizer=optimizers.SGD(0.2)) for _ in range(3)]
    for m in models[1:]:
        _copy_weights(models[0], m)
    for m in models[:2]:
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    models[2].fit(x, y, batch_size=4, epochs=2, shuffle=True, verbose=0)
    assert _weights_equal(models[0].get_weights(), models[1].get_weights())
    assert not _weights_equal(models[0].get_weights(), models[2].get_weights())


@pytest.mark.parametrize("initial_epoch, epochs, expected", [(0, 3, [0, 1, 2]), (3, 5, [3, 4]),
                                                             (4, 4, [])])
def test_epochs_is_the_final_epoch_index(initial_epoch, epochs, expected):
    x, y = _seq_data(n=8)
    recorder = Recorder()
    history = _gru_model().fit(x, y, epochs=epochs, initial_epoch=initial_epoch,
                               callbacks=[recorder], verbose=0)
    assert recorder.epochs_begun == expected
    assert history.epoch == expected
    assert len(history.history.get("loss", [])) == len(expected)


def test_history_keys_are_sorted_then_validation_keys():
    x, _ = _seq_data(n=16)
    y = (x[:, :, 0].mean(1, keepdims=True) > 0).astype(np.float32)
    model = _gru_model(metrics=["mae", "accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.25, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "mae", "val_accuracy", "val_loss",
                                     "val_mae"]


def test_history_is_model_history_and_log_values_are_python_floats():
    x, y = _seq_data(n=16)
    model = _gru_model(metrics=["mae"])
    recorder = Recorder()
    history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.25,
                        callbacks=[recorder], verbose=0)
    assert isinstance(history, callbacks.History)
    assert model.history is history
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 2}
    assert history.epoch == [0, 1, 2]
    for values in history.history.values():
        assert len(values) == 3
        assert all(type(v) is float for v in values)
    for logs in recorder.epoch_logs:
        assert all(type(v) is float for v in logs.values())
    assert recorder.epoch_logs[-1] == {k: v[-1] for k, v in history.history.items()}


@pytest.mark.parametrize("verbose", [0, 1, 2, "auto"])
def test_verbose_values_are_accepted(verbose, capsys):
    x, y = _seq_data(n=8)
    model = _gru_model()
    model.fit(x, y, epochs=2, verbose=verbose)
    model.evaluate(x, y, verbose=verbose)
    model.predict(x, verbose=verbose)
    out = capsys.readouterr().out
    if verbose == 0:
        assert out == ""
    else:
        assert "Epoch 1/2" in out and "Epoch 2/2" in out


@pytest.mark.parametrize("verbose", [3, -1, "silent", 1.5])
@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_other_verbose_values_raise(verbose, method):
    x, y = _seq_data(n=8)
    model = _gru_model()
    args = (x,) if method == "predict" else (x, y)
    with pytest.raises(ValueError, match="verbose"):
        getattr(model, method)(*args, verbose=verbose)


# -- sample and class weights, accuracy resolution -------------------------------------------


def test_sample_weight_reduction_divides_by_the_sample_count():
    rng = _rng(6)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    sw = np.arange(8, dtype=np.float32)
    model = _dense_model()
    per_sample = ((model.predict(x, verbose=0).astype(np.float64) - y) ** 2).mean(axis=-1)
    expected = float((per_sample * sw).sum() / 8)  # not / sum(sw)
    assert model.evaluate(x, y, sample_weight=sw, verbose=0) == pytest.approx(expected,
                                                                                rel=1e-5)
    assert model.train_on_batch(x, y, sample_weight=sw) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("one_hot", [False, True], ids=["sparse", "one_hot"])
def test_class_weight_weights_each_sample_by_its_class(one_hot):
    rng = _rng(7)
    x = rng.normal(size=(9, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    y = np.eye(3, dtype=np.float32)[labels] if one_hot else labels
    loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    with_cw = _dense_model(units=3, activation="softmax", loss=loss)
    with_sw = _dense_model(units=3, activation="softmax", loss=loss)
    _copy_weights(with_cw, with_sw)
    p = with_cw.predict(x, verbose=0).astype(np.float64)
    weights = np.array([class_weight[c] for c in labels])
    expected = float((-np.log(p[np.arange(9), labels]) * weights).sum() / 9)
    assert with_cw.train_on_batch(x, y, class_weight=class_weight) == pytest.approx(
        expected, rel=1e-5)
    with_sw.train_on_batch(x, y, sample_weight=weights)
    for a, b in zip(with_cw.get_weights(), with_sw.get_weights()):
        np.testing.assert_allclose(a, b, **TIGHT)


@pytest.mark.parametrize("case, metric_class", [
    ("binary", "BinaryAccuracy"),
    ("sparse", "SparseCategoricalAccuracy"),
    ("sparse_column", "SparseCategoricalAccuracy"),
    ("one_hot", "CategoricalAccuracy"),
])
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_is_resolved_from_shapes(case, metric_class, name):
    rng = _rng(8)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=40)
    if case == "binary":
        units, activation, loss = 1, "sigmoid", "binary_crossentropy"
        y = (labels == 0).astype(np.float32)[:, None]
    else:
        units, activation = 3, "softmax"
        loss = "categorical_crossentropy" if case == "one_hot" else \
            "sparse_categorical_crossentropy"
        y = {"sparse": labels, "sparse_column": labels[:, None],
             "one_hot": np.eye(3, dtype=np.float32)[labels]}[case]
    model = gru_py.Sequential([layers.Dense(units, activation=activation, input_shape=(3,))])
    model.compile(optimizer="sgd", loss=loss, metrics=[name])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert type(model.metrics[1]).__name__ == metric_class
    assert model.metrics_names == ["loss", name]
    p = model.predict(x, verbose=0)
    if case == "binary":
        expected = np.mean((p > 0.5) == (y > 0.5))
    else:
        expected = np.mean(np.argmax(p, axis=-1) == labels)
    assert logs[name] == pytest.approx(expected)


# -- evaluate, predict, *_on_batch -------------------------------------------------------------


def test_evaluate_returns_float_list_or_dict():
    x, y = _seq_data(n=10)
    model = _gru_model()
    loss = model.evaluate(x, y, verbose=0)
    assert type(loss) is float
    model.compile(optimizer="sgd", loss="mse", metrics=["mae", "mse"])
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 3
    assert result[0] == pytest.approx(loss)
    assert result[2] == pytest.approx(loss)  # mse metric == mse loss without weights
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert as_dict == {"loss": result[0], "mae": result[1], "mse": result[2]}
    p = model.predict(x, verbose=0).astype(np.float64)
    assert result[1] == pytest.approx(np.abs(p - y).mean(), rel=1e-5)


def test_evaluate_over_batches_equals_one_batch():
    x, y = _seq_data(n=70)
    model = _gru_model()
    assert model.evaluate(x, y, batch_size=7, verbose=0) == pytest.approx(
        model.evaluate(x, y, batch_size=70, verbose=0), rel=1e-5)


def test_predict_does_not_depend_on_batch_size():
    x, _ = _seq_data(n=70)
    model = _gru_model()
    one = model.predict(x, batch_size=1, verbose=0)
    big = model.predict(x, batch_size=64, verbose=0)
    default = model.predict(x, verbose=0)
    assert one.shape == big.shape == default.shape == (70, 1)
    np.testing.assert_allclose(one, big, **TIGHT)
    np.testing.assert_allclose(default, big, **TIGHT)


def test_train_test_and_predict_on_batch():
    x, y = _seq_data(n=10)
    model = _gru_model(optimizer=optimizers.SGD(0.1), metrics=["mae"])
    np.testing.assert_allclose(model.predict_on_batch(x), model.predict(x, verbose=0), **TIGHT)
    before_loss, before_mae = model.test_on_batch(x, y)
    assert before_loss == pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-6)
    weights = model.get_weights()
    trained = model.train_on_batch(x, y, return_dict=True)
    # The returned loss is the batch's loss before the update (no dropout here).
    assert trained == pytest.approx({"loss": before_loss, "mae": before_mae}, rel=1e-5)
    assert not _weights_equal(weights, model.get_weights())
    after = model.test_on_batch(x, y, return_dict=True)
    assert after["loss"] < before_loss


def test_train_on_batch_returns_this_batch_loss_not_a_running_mean():
    # Keras 3 resets the metrics at the start of train_on_batch (keras-team/keras PR
    # #22617, in 3.16): each call reports its own batch.
    x, y = _seq_data(n=16)
    model = _gru_model(optimizer=optimizers.SGD(0.1))
    probe = _gru_model()
    model.train_on_batch(x[:8], y[:8])
    _copy_weights(model, probe)
    expected = probe.test_on_batch(x[8:], y[8:] + 5.0)
    assert model.train_on_batch(x[8:], y[8:] + 5.0) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("method", ["fit", "train_on_batch"])
def test_class_weight_and_sample_weight_together_raise(method):
    # Keras 3 (ArrayDataAdapter, train_on_batch): "You cannot `class_weight` and
    # `sample_weight` at the same time."
    rng = _rng(7)
    x = rng.normal(size=(6, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2])
    model = _dense_model(units=3, activation="softmax", loss="sparse_categorical_crossentropy")
    kwargs = {"sample_weight": np.ones(6, np.float32), "class_weight": {0: 1.0, 1: 2.0, 2: 1.0}}
    if method == "fit":
        kwargs["verbose"] = 0
    with pytest.raises(ValueError, match="class_weight"):
        getattr(model, method)(x, labels, **kwargs)


# -- freezing ----------------------------------------------------------------------------------


def test_frozen_layer_is_bit_identical_after_fit():
    x, y = _seq_data(n=16)
    model = gru_py.Sequential([
        layers.GRU(4, input_shape=(None, 3), trainable=False),
        layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse")
    gru_before = model.layers[0].get_weights()
    dense_before = model.layers[1].get_weights()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert _weights_equal(model.layers[0].get_weights(), gru_before)
    assert not any(np.array_equal(a, b) for a, b in zip(model.layers[1].get_weights(),
                                                        dense_before))
    assert len(model.trainable_weights) == 2
    assert len(model.non_trainable_weights) == 3


def test_model_trainable_false_freezes_every_weight():
    x, y = _seq_data(n=16)
    model = _gru_model(optimizer="adam")
    model.trainable = False
    model.compile(optimizer="adam", loss="mse")
    before = model.get_weights()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert _weights_equal(model.get_weights(), before)
    assert model.trainable_weights == []
    assert len(model.non_trainable_weights) == 5


def test_model_trainable_false_propagates_to_its_layers():
    # Keras 3's `trainable` setter sets every sublayer's `trainable` too.
    model = _gru_model()
    model.trainable = False
    assert [layer.trainable for layer in model.layers] == [False, False]
    assert all(len(layer.trainable_weights) == 0 for layer in model.layers)


# -- regularizers ------------------------------------------------------------------------------


def _penalty(kind, layer_weights, outputs):
    kernel, bias = layer_weights
    if kind == "kernel_l2":
        return 0.01 * float((kernel.astype(np.float64) ** 2).sum())
    if kind == "bias_l1":
        return 0.01 * float(np.abs(bias.astype(np.float64)).sum())
    return 0.01 * float((outputs.astype(np.float64) ** 2).sum())  # activity_l2


REGULARIZED = {
    "kernel_l2": {"kernel_regularizer": "l2"},
    "bias_l1": {"bias_regularizer": "l1"},
    "activity_l2": {"activity_regularizer": "l2"},
}


def _regularizer_setup(kind):
    rng = _rng(10)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    plain = _dense_model(optimizer=optimizers.SGD(0.1))
    regularized = _dense_model(optimizer=optimizers.SGD(0.1), **REGULARIZED[kind])
    kernel, _ = plain.get_weights()
    weights = [kernel, np.array([0.3, -0.2], np.float32)]  # a bias off 0 for L1
    plain.set_weights(weights)
    regularized.set_weights(weights)
    return x, y, plain, regularized


@pytest.mark.parametrize("kind", sorted(REGULARIZED))
def test_regularizer_penalty_is_added_to_the_loss(kind):
    x, y, plain, regularized = _regularizer_setup(kind)
    outputs = plain.predict(x, verbose=0)
    penalty = _penalty(kind, plain.get_weights(), outputs)
    assert penalty > 1e-3
    base = plain.evaluate(x, y, batch_size=8, verbose=0)
    assert regularized.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(
        base + penalty, rel=1e-5)
    assert regularized.test_on_batch(x, y) == pytest.approx(base + penalty, rel=1e-5)


def test_gru_recurrent_regularizer_penalty_is_added_to_the_loss():
    x, y = _seq_data(n=8)
    plain = _gru_model()
    regularized = _gru_model(recurrent_regularizer="l2")
    _copy_weights(plain, regularized)
    recurrent = plain.layers[0].weights[1].astype(np.float64)
    assert regularized.evaluate(x, y, verbose=0) == pytest.approx(
        plain.evaluate(x, y, verbose=0) + 0.01 * (recurrent ** 2).sum(), rel=1e-5)


@pytest.mark.parametrize("kind", sorted(REGULARIZED))
def test_regularizer_gradient_matches_one_sgd_step_by_hand(kind):
    x, y, _, model = _regularizer_setup(kind)
    lr = 0.1
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    xs = x.astype(np.float64)
    out = xs @ kernel + bias
    d_out = 2.0 * (out - y) / out.size  # mse: mean over the last axis, then the batch
    if kind == "activity_l2":
        d_out = d_out + 0.02 * out
    d_kernel = xs.T @ d_out
    d_bias = d_out.sum(axis=0)
    if kind == "kernel_l2":
        d_kernel = d_kernel + 0.02 * kernel
    if kind == "bias_l1":
        d_bias = d_bias + 0.01 * np.sign(bias)
    model.train_on_batch(x, y)
    new_kernel, new_bias = model.get_weights()
    np.testing.assert_allclose(new_kernel, kernel - lr * d_kernel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_bias, bias - lr * d_bias, rtol=1e-5, atol=1e-6)


# -- custom training loop ------------------------------------------------------------------------


def test_compute_loss_and_gradients_then_apply_gradients_equals_train_on_batch():
    x, y = _seq_data(n=12)
    looped = _gru_model(units=5, optimizer=optimizers.Adam(0.01))
    stepped = _gru_model(units=5, optimizer=optimizers.Adam(0.01))
    _copy_weights(looped, stepped)
    for _ in range(3):
        loss, grads = looped.compute_loss_and_gradients(x, y)
        assert type(loss) is float and math.isfinite(loss)
        assert loss == pytest.approx(stepped.test_on_batch(x, y), rel=1e-6)
        assert [g.shape for g in grads] == [w.shape for w in looped.trainable_weights]
        looped.optimizer.apply_gradients(zip(grads, looped.trainable_weights))
        stepped.train_on_batch(x, y)
    for a, b in zip(looped.get_weights(), stepped.get_weights()):
        np.testing.assert_allclose(a, b, **TIGHT)


def test_compute_loss_and_gradients_returns_copies_and_leaves_weights():
    x, y = _seq_data(n=12)
    model = _gru_model()
    before = model.get_weights()
    _, grads = model.compute_loss_and_gradients(x, y)
    assert _weights_equal(before, model.get_weights())
    assert not any(g is w for g, w in zip(grads, model.trainable_weights))
    kept = [g.copy() for g in grads]
    model.compute_loss_and_gradients(x[:4], y[:4])
    assert _weights_equal(kept, grads)


# -- the input gradient of a model's first layers --------------------------------------------


def _stacked_sequential():
    """A first layer of two stacked cells, whose upper cell needs its input gradient."""
    return gru_py.Sequential([
        layers.Input((6, 3)),
        layers.RNN([layers.GRUCell(4), layers.LSTMCell(3)], return_sequences=True),
        layers.GRU(4, return_sequences=True),
        layers.TimeDistributed(layers.Dense(2)),
    ])


def _wrappers_on_the_input():
    inputs = layers.Input((6, 3))
    both_ways = layers.Bidirectional(layers.GRU(4, return_sequences=True))(inputs)
    per_step = layers.TimeDistributed(layers.Dense(8))(inputs)
    merged = layers.Add()([both_ways, per_step])
    return gru_py.Model(inputs, layers.SimpleRNN(2, return_sequences=True)(merged))


def _spy_on_input_gradient(model, force=None):
    """Records, per layer class (each appears once in these models), the input_gradient
    each layer's backward is asked for; with ``force``, the layer gets that value instead."""
    asked = {}
    for layer in model.layers:
        def spy(d_outputs, input_gradient=True, _layer=layer, _original=layer._graph_backward):
            asked[type(_layer).__name__] = input_gradient
            return _original(d_outputs, input_gradient=input_gradient if force is None else force)
        layer._graph_backward = spy
    return asked


@pytest.mark.parametrize("build, skipped", [
    (_stacked_sequential, {"RNN"}),
    (_wrappers_on_the_input, {"Bidirectional", "TimeDistributed"}),
], ids=["sequential", "functional"])
def test_layers_on_a_model_input_skip_its_gradient_and_the_rest_is_unchanged(build, skipped):
    """The layers that read a model input are told not to compute its gradient; the
    parameter gradients are those of a run that computes it anyway."""
    x = _rng(3).normal(size=(5, 6, 3)).astype(np.float32)
    y = _rng(4).normal(size=(5, 6, 2)).astype(np.float32)
    model, forced = build(), build()
    _copy_weights(model, forced)
    for m in (model, forced):
        m.compile(optimizer="sgd", loss="mse")
    asked = _spy_on_input_gradient(model)
    _spy_on_input_gradient(forced, force=True)
    loss, grads = model.compute_loss_and_gradients(x, y)
    forced_loss, forced_grads = forced.compute_loss_and_gradients(x, y)
    trained = {type(layer).__name__ for layer in model.layers if layer.weights}
    assert {name for name, wanted in asked.items() if not wanted} == skipped
    assert set(asked) >= trained
    assert loss == forced_loss
    for i, (g, f) in enumerate(zip(grads, forced_grads)):
        np.testing.assert_array_equal(g, f, err_msg=f"gradient {i}")


# -- reproducibility -----------------------------------------------------------------------------


def _seeded_run(seed):
    set_random_seed(seed)
    x, y = _seq_data(n=20)
    model = gru_py.Sequential([layers.GRU(6), layers.Dropout(0.2), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=True, verbose=0)
    return model.get_weights(), history.history["loss"]


def test_set_random_seed_makes_build_and_fit_reproducible():
    weights_a, losses_a = _seeded_run(7)
    weights_b, losses_b = _seeded_run(7)
    weights_c, _ = _seeded_run(8)
    assert losses_a == losses_b
    assert _weights_equal(weights_a, weights_b)
    assert not _weights_equal(weights_a, weights_c)


# -- bad input ---------------------------------------------------------------------------------


def test_x_and_y_length_mismatch_names_both_counts():
    x, y = _seq_data(n=10)
    with pytest.raises(ValueError, match=r"x: 10.*y: 8"):
        _gru_model().fit(x, y[:8], verbose=0)


@pytest.mark.parametrize("case", ["gru_rank_2", "gru_rank_4", "y_missing", "nan_x", "empty_x",
                                  "wrong_features"])
def test_bad_data_raises_value_error(case):
    x, y = _seq_data(n=10)
    model = gru_py.Sequential([layers.GRU(4), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    kwargs = {"x": x, "y": y}
    if case == "gru_rank_2":
        kwargs["x"] = x[:, 0]
    elif case == "gru_rank_4":
        kwargs["x"] = x[:, :, :, None]
    elif case == "y_missing":
        kwargs["y"] = None
    elif case == "nan_x":
        kwargs["x"] = x.copy()
        kwargs["x"][3, 2, 1] = np.nan
    elif case == "empty_x":
        kwargs = {"x": x[:0], "y": y[:0]}
    elif case == "wrong_features":
        model.build((None, None, 3))
        kwargs["x"] = np.zeros((10, 6, 5), np.float32)
    with pytest.raises(ValueError):
        model.fit(**kwargs, verbose=0)


@pytest.mark.parametrize("argument", ["optimizer", "loss", "metrics"])
def test_unknown_strings_raise_value_error(argument):
    x, y = _seq_data(n=8)
    model = gru_py.Sequential([layers.GRU(4), layers.Dense(1)])
    compile_args = {"optimizer": "sgd", "loss": "mse"}
    compile_args[argument] = ["no_such_metric"] if argument == "metrics" else "no_such_thing"
    with pytest.raises(ValueError, match="no_such"):
        # Keras 3 resolves metrics on the first batch; either step may raise.
        model.compile(**compile_args)
        model.fit(x, y, verbose=0)


@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_training_before_compile_raises(method):
    x, y = _seq_data(n=8)
    model = gru_py.Sequential([layers.GRU(4), layers.Dense(1)])
    with pytest.raises((RuntimeError, ValueError), match="compile"):
        getattr(model, method)(x, y)


def test_fit_before_compile_raises_value_error_as_keras3():
    # Keras 3's Trainer._assert_compile_called raises ValueError("You must call
    # `compile()` before ...").
    x, y = _seq_data(n=8)
    model = gru_py.Sequential([layers.GRU(4), layers.Dense(1)])
    with pytest.raises(ValueError, match="compile"):
        model.fit(x, y, verbose=0)


# -- non-finite losses ---------------------------------------------------------------------------


def _exploding_setup(learning_rate):
    """SGD with a huge learning rate on a relu Dense model: the first step is finite, then
    the loss (lr=1) or the predictions themselves (lr=1e4) overflow float32."""
    rng = _rng(0)
    x = (rng.normal(size=(64, 4)) * 10).astype(np.float32)
    y = (rng.normal(size=(64, 1)) * 100).astype(np.float32)
    model = gru_py.Sequential([
        layers.Dense(16, activation="relu", input_shape=(4,)),
        layers.Dense(1),
    ])
    model.compile(optimizer=optimizers.SGD(learning_rate), loss="mse")
    return model, x, y


class _WeightLog(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(self.model.get_weights())
        self.losses.append(logs["loss"])


@pytest.mark.parametrize("learning_rate", [1.0, 1e4], ids=["loss_overflows",
                                                           "predictions_overflow"])
def test_terminate_on_nan_stops_training_and_keeps_weights_finite(learning_rate):
    model, x, y = _exploding_setup(learning_rate)
    log = _WeightLog()
    history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                        callbacks=[log, callbacks.TerminateOnNaN()])
    # Stopped within the first epoch, at the first non-finite loss.
    assert history.epoch == [0]
    assert len(log.losses) < 16
    assert math.isfinite(log.losses[0]) and not math.isfinite(log.losses[-1])
    assert not math.isfinite(history.history["loss"][-1])
    # gru_py (model.py _train_step) does not write a non-finite step into the weights.
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert _weights_equal(log.weights[-1], log.weights[-2])


def test_terminate_on_nan_with_raise_error_raises_runtime_error():
    model, x, y = _exploding_setup(1.0)
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                  callbacks=[callbacks.TerminateOnNaN(raise_error=True)])
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize("method", ["train_on_batch", "compute_loss_and_gradients"])
def test_overflowing_gradients_give_a_nan_loss_not_an_error(method):
    """Finite predictions whose gradient overflows on its way down (a huge Dense kernel
    after the GRU): the GRU's backward receives Inf, which the core rejects as input. The
    model reports a NaN loss instead of raising, and a training step keeps the weights."""
    model = gru_py.Sequential([gru_py.Input(shape=(5, 3)), layers.GRU(4), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.layers[1].kernel[...] = 1e30
    x = np.ones((8, 5, 3), np.float32)
    y = np.ones((8, 1), np.float32)
    before = model.get_weights()
    if method == "train_on_batch":
        loss, _ = model.train_on_batch(x, y)
        assert _weights_equal(model.get_weights(), before)
    else:
        loss, grads = model.compute_loss_and_gradients(x, y)
        assert not np.isfinite(grads[0]).all()  # the GRU kernel's gradient
    assert math.isnan(loss)


def test_a_training_step_scans_each_large_array_once_in_the_core(monkeypatch):
    """The predictions and the targets, the largest arrays of a step, are scanned for NaN
    and Inf once each, by the core's scan (numpy.isfinite would allocate a boolean array of
    their size); the loss core does not scan them again. The gradients are scanned once."""
    from gru_py._native import _core

    x = _rng(5).normal(size=(6, 7, 3)).astype(np.float32)
    y = _rng(6).normal(size=(6, 7, 4)).astype(np.float32)
    model = gru_py.Sequential([gru_py.Input(shape=(7, 3)), layers.GRU(4, return_sequences=True)])
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(x, y)
    scanned, loss_core_scans = [], []
    real_scan = _core.find_nonfinite

    def scan(a):
        scanned.append(np.shape(a))
        return real_scan(a)

    monkeypatch.setattr(_core, "find_nonfinite", scan)
    def counted(real):
        def call(*args, **kwargs):
            loss_core_scans.append(kwargs.get("check_finite", True))
            return real(*args, **kwargs)
        return call

    for name in ("loss_forward", "loss_backward"):
        monkeypatch.setattr(_core, name, counted(getattr(_core, name)))

    def isfinite(*args, **kwargs):
        raise AssertionError("numpy.isfinite called in a training step")

    monkeypatch.setattr(np, "isfinite", isfinite)
    model.train_on_batch(x, y)
    assert sorted(scanned) == sorted([y.shape, y.shape] + [w.shape for w in model.weights])
    assert loss_core_scans == [False, False]
