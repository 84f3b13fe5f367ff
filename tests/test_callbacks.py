"""Tests of gru_py.callbacks (API_SPEC 4.2, 4.5) against Keras 3's semantics.

Each callback runs inside a small simulated fit loop (``run_fit``) that calls the hooks
in Keras' order, on a fake model implementing only the interface callbacks may rely on.
Every training batch adds 1 to every weight, so a weight's value is the number of
batches trained: the test can tell which epoch's weights were saved or restored.
"""

import io
import json
import os
import sys
import zipfile

import numpy as np
import pytest

from gru_py import callbacks as cb_module
from gru_py.callbacks import (
    BackupAndRestore,
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from gru_py.utils import progbar as progbar_module

STEPS = 3  # batches per epoch in run_fit


# -- the fake model and the simulated fit loop ---------------------------------------------


class FakeOptimizer:
    def __init__(self, learning_rate=0.01, uses_schedule=False):
        self._lr = learning_rate
        self.uses_schedule = uses_schedule
        self.iterations = 0

    @property
    def learning_rate(self):
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        if self.uses_schedule:
            raise TypeError("this optimizer follows a LearningRateSchedule; its learning "
                            "rate cannot be set")
        self._lr = float(value)


class FakeModel:
    """Exactly the model interface callbacks may use (see gru_py.callbacks)."""

    def __init__(self, learning_rate=0.01, uses_schedule=False):
        self.stop_training = False
        self._weights = [np.zeros((2, 3), np.float32), np.zeros(3, np.float32)]
        self.optimizer = FakeOptimizer(learning_rate, uses_schedule)
        self.saves = []  # paths passed to save / save_weights

    def train_step(self):
        for w in self._weights:
            w += 1.0
        self.optimizer.iterations += 1

    @property
    def value(self):
        """The number of batches trained, as the weights record it."""
        return float(self._weights[0][0, 0])

    def get_weights(self):
        return [w.copy() for w in self._weights]

    def set_weights(self, weights):
        self._weights = [np.array(w, np.float32) for w in weights]

    def save(self, filepath):
        assert filepath.endswith(".keras")
        self.saves.append(filepath)
        with zipfile.ZipFile(filepath, "w") as z:
            z.writestr("weights.json", json.dumps([w.tolist() for w in self._weights]))

    def save_weights(self, filepath):
        assert filepath.endswith(".weights.npz")
        self.saves.append(filepath)
        np.savez(filepath, *self._weights, learning_rate=self.optimizer.learning_rate,
                 iterations=self.optimizer.iterations)

    def load_weights(self, filepath):
        assert filepath.endswith(".weights.npz")
        with np.load(filepath) as data:
            self._weights = [data[f"arr_{i}"] for i in range(len(self._weights))]
            self.optimizer._lr = float(data["learning_rate"])
            self.optimizer.iterations = int(data["iterations"])


def saved_value(path):
    """The weights' value in a file written by FakeModel.save or save_weights."""
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("weights.json"))[0][0][0]
    with np.load(path) as data:
        return float(data["arr_0"][0, 0])


def constant_logs(**values):
    return lambda epoch: dict(values)


def series_logs(**series):
    """Epoch logs from per-epoch lists: series_logs(val_loss=[...])."""
    return lambda epoch: {key: values[epoch] for key, values in series.items()}


def run_fit(model, callbacks, epochs, epoch_logs=None, batch_logs=None, initial_epoch=0,
            verbose=0, validation=True):
    """Keras 3's fit loop, hooks only: returns the History."""
    epoch_logs = epoch_logs or constant_logs(loss=1.0, val_loss=1.0)
    batch_logs = batch_logs or (lambda epoch, batch: {"loss": np.float32(1.0)})
    cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                       verbose=verbose, epochs=epochs, steps=STEPS)
    model.stop_training = False
    cbs.on_train_begin()
    start = getattr(model, "_initial_epoch", None)
    start = initial_epoch if start is None else start
    logs = {}
    for epoch in range(start, epochs):
        cbs.on_epoch_begin(epoch)
        for batch in range(STEPS):
            cbs.on_train_batch_begin(batch)
            model.train_step()
            cbs.on_train_batch_end(batch, batch_logs(epoch, batch))
            if model.stop_training:
                break
        logs = {k: v for k, v in epoch_logs(epoch).items() if not k.startswith("val_")}
        if validation:
            cbs.on_test_begin()
            for batch in range(2):
                cbs.on_test_batch_begin(batch)
                cbs.on_test_batch_end(batch, {"loss": 9.0})
            cbs.on_test_end({"loss": 9.0})
            logs.update({k: v for k, v in epoch_logs(epoch).items() if k.startswith("val_")})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    model._initial_epoch = None
    return model.history


class Interrupt(Exception):
    pass


def interrupt_at_epoch_end(epoch_to_fail):
    def on_epoch_end(epoch, logs):
        if epoch == epoch_to_fail:
            raise Interrupt(f"interrupted at epoch {epoch}")
    return LambdaCallback(on_epoch_end=on_epoch_end)


@pytest.fixture(autouse=True)
def _static_stdout(monkeypatch):
    """Progress output as if redirected to a file, with a frozen clock."""
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(progbar_module, "_clock", lambda: 1000.0)


# -- Callback, CallbackList, History -----------------------------------------------------


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name.startswith("on_") and callable(attr):
            calls = super().__getattribute__("calls")

            def record(*args, **kwargs):
                calls.append((name, args, kwargs))
                return attr(*args, **kwargs)
            return record
        return attr


def test_callback_list_adds_history_and_progbar_once():
    model = FakeModel()
    cbs = CallbackList([], add_history=True, add_progbar=True, model=model, verbose=1,
                       epochs=2, steps=3)
    assert [type(c) for c in cbs.callbacks] == [History, ProgbarLogger]
    assert model.history is cbs.callbacks[0]
    for c in cbs.callbacks:
        assert c.model is model
        assert c.params == {"verbose": 1, "epochs": 2, "steps": 3}

    own_history, own_progbar = History(), ProgbarLogger()
    cbs = CallbackList([own_progbar, [own_history]], add_history=True, add_progbar=True,
                       model=model)
    assert cbs.callbacks == [own_progbar, own_history]
    assert model.history is own_history

    assert [type(c) for c in CallbackList(None, add_history=True).callbacks] == [History]
    assert CallbackList(Recorder()).callbacks[0].params is None  # no params given


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(TypeError, match="Callback"):
        CallbackList([object()])
    with pytest.raises(TypeError, match="Callback"):
        CallbackList("not a list")


def test_hooks_reach_callbacks_in_keras_order_with_python_float_logs():
    model = FakeModel()
    rec = Recorder()
    run_fit(model, [rec], epochs=1,
            batch_logs=lambda e, b: {"loss": np.float32(0.5), "acc": np.float64(0.25),
                                     "nested": {"x": np.int64(2)}})
    names = [name for name, _, _ in rec.calls]
    assert names[:5] == ["on_train_begin", "on_epoch_begin", "on_train_batch_begin",
                         "on_batch_begin", "on_train_batch_end"]
    assert names[-2:] == ["on_epoch_end", "on_train_end"]
    assert names.count("on_train_batch_end") == STEPS
    assert names.count("on_batch_end") == STEPS  # the legacy alias
    assert names.count("on_test_batch_end") == 2
    # Batch hooks get logs by keyword, the others positionally (as Keras calls them).
    _, (batch,), kwargs = next(c for c in rec.calls if c[0] == "on_train_batch_end")
    assert batch == 0
    logs = kwargs["logs"]
    _, (epoch, epoch_logs), _ = next(c for c in rec.calls if c[0] == "on_epoch_end")
    assert epoch == 0 and epoch_logs == {"loss": 1.0, "val_loss": 1.0}
    assert list(logs) == ["acc", "loss", "x"]  # sorted, nested dict merged
    assert all(type(v) is float for v in logs.values())


def test_history_records_epochs_logs_and_params():
    model = FakeModel()
    history = run_fit(model, [], epochs=3, initial_epoch=1,
                      epoch_logs=series_logs(loss=[3.0, 2.0, 1.0], val_loss=[4, 5, 6]))
    assert isinstance(history, History)
    assert history.epoch == [1, 2]
    assert history.history == {"loss": [2.0, 1.0], "val_loss": [5, 6]}
    assert history.params == {"verbose": 0, "epochs": 3, "steps": STEPS}


def test_lambda_callback_hooks_and_unknown_names():
    seen = []
    lam = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(("end", epoch)),
                         on_train_begin=lambda logs: seen.append("begin"),
                         on_train_batch_end=lambda batch, logs: seen.append(("b", batch)),
                         on_test_end=lambda logs: seen.append("test_end"))
    run_fit(FakeModel(), [lam], epochs=1)
    assert seen == ["begin", ("b", 0), ("b", 1), ("b", 2), "test_end", ("end", 0)]
    with pytest.raises(ValueError, match="unknown hooks"):
        LambdaCallback(on_epoch_ends=print)


# -- ProgbarLogger -----------------------------------------------------------------------


def test_progbar_logger_static_output_in_fit(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    clock = {"t": 1000.0}
    monkeypatch.setattr(progbar_module, "_clock", lambda: clock["t"])

    def tick(batch, logs):
        clock["t"] += 0.25

    run_fit(FakeModel(), [LambdaCallback(on_train_batch_begin=tick)], epochs=2, verbose=1,
            batch_logs=lambda e, b: {"loss": [0.5, 0.3, 0.2][b]},
            epoch_logs=constant_logs(loss=0.3, val_loss=0.6))
    bar = "━"
    epoch = [
        f"1/3 {bar * 6}{'─' * 14} 0s 250ms/step - loss: 0.5000",
        f"2/3 {bar * 13}{'─' * 7} 0s 250ms/step - loss: 0.4000",
        f"3/3 {bar * 20} 0s 250ms/step - loss: 0.3333",
        f"3/3 {bar * 20} 1s 250ms/step - loss: 0.3000 - val_loss: 0.6000",
    ]
    assert out.getvalue() == "\n".join(["Epoch 1/2", *epoch, "Epoch 2/2", *epoch]) + "\n"


def test_progbar_logger_verbose_2_and_single_epoch(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    run_fit(FakeModel(), [], epochs=1, verbose=2,
            epoch_logs=constant_logs(loss=0.0005, val_loss=2.5))
    # No "Epoch 1/1" line for a single epoch; the frozen clock gives 0s and 0s/step.
    assert out.getvalue() == "3/3 - 0s - 0s/step - loss: 5.0000e-04 - val_loss: 2.5000\n"


def test_progbar_logger_evaluate_and_predict_have_bars(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    cbs = CallbackList([], add_progbar=True, model=FakeModel(), verbose=1, epochs=1,
                       steps=None)
    cbs.on_test_begin()
    cbs.on_test_batch_end(0, {"loss": 1.0})
    cbs.on_test_end({"loss": 0.5})
    assert out.getvalue() == ("      1/Unknown 0s 0s/step - loss: 1.0000\n"
                              "1/1 ━━━━━━━━━━━━━━━━━━━━ 0s 0s/step - loss: 0.5000\n")


def test_no_progbar_with_verbose_0(capsys):
    run_fit(FakeModel(), [], epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


# -- EarlyStopping ------------------------------------------------------------------------


def test_early_stopping_patience_stops_at_the_right_epoch():
    es = EarlyStopping(patience=2)
    history = run_fit(FakeModel(), [es], epochs=10,
                      epoch_logs=series_logs(val_loss=[1.0, 0.8, 0.9, 0.85, 0.95, 0.7]))
    assert history.epoch == [0, 1, 2, 3]
    assert es.stopped_epoch == 3
    assert es.best == 0.8 and es.best_epoch == 1


def test_early_stopping_patience_0_and_epoch_0_never_stops():
    es = EarlyStopping(monitor="loss")
    history = run_fit(FakeModel(), [es], epochs=5,
                      epoch_logs=series_logs(loss=[1.0, 2.0, 0.5, 0.4, 0.3]))
    assert history.epoch == [0, 1]


def test_early_stopping_restores_best_weights_after_an_early_stop(capsys):
    model = FakeModel()
    es = EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    run_fit(model, [es], epochs=10,
            epoch_logs=series_logs(val_loss=[1.0, 0.8, 0.9, 0.85, 0.95]))
    assert model.value == 2 * STEPS  # the end of epoch 1
    assert capsys.readouterr().out == (
        "Epoch 4: early stopping\n"
        "Restoring model weights from the end of the best epoch: 2.\n")


def test_early_stopping_restores_best_weights_without_an_early_stop():
    model = FakeModel()
    es = EarlyStopping(patience=10, restore_best_weights=True)
    history = run_fit(model, [es], epochs=3, epoch_logs=series_logs(val_loss=[0.5, 0.3, 0.4]))
    assert history.epoch == [0, 1, 2] and es.stopped_epoch == 0
    assert model.value == 2 * STEPS


def test_early_stopping_without_restore_keeps_last_weights():
    model = FakeModel()
    run_fit(model, [EarlyStopping(patience=1)], epochs=10,
            epoch_logs=series_logs(val_loss=[0.5, 0.6, 0.7]))
    assert model.value == 2 * STEPS


def test_early_stopping_min_delta():
    es = EarlyStopping(min_delta=-0.1, patience=1)  # the sign is ignored
    history = run_fit(FakeModel(), [es], epochs=5,
                      epoch_logs=series_logs(val_loss=[1.0, 0.95, 0.5]))
    assert history.epoch == [0, 1]


def test_early_stopping_baseline():
    logs = series_logs(val_loss=[0.9, 0.95, 0.96, 0.97])
    assert run_fit(FakeModel(), [EarlyStopping(patience=2)], 4, logs).epoch == [0, 1, 2]
    # Epoch 0 improves on nothing but not on the baseline, so wait is not reset.
    es = EarlyStopping(patience=2, baseline=0.5)
    assert run_fit(FakeModel(), [es], 4, logs).epoch == [0, 1]


def test_early_stopping_start_from_epoch():
    logs = series_logs(val_loss=[1.0, 2.0, 3.0, 4.0, 5.0])
    assert run_fit(FakeModel(), [EarlyStopping()], 5, logs).epoch == [0, 1]
    es = EarlyStopping(start_from_epoch=2, restore_best_weights=True)
    model = FakeModel()
    assert run_fit(model, [es], 5, logs).epoch == [0, 1, 2, 3]
    assert es.best == 3.0 and model.value == 3 * STEPS


def test_early_stopping_mode_auto_and_max():
    acc = series_logs(val_accuracy=[0.5, 0.6, 0.55, 0.7])
    # auto: accuracy is maximised (Keras' Accuracy has _direction "up")
    assert run_fit(FakeModel(), [EarlyStopping("val_accuracy")], 4, acc).epoch == [0, 1, 2]
    assert run_fit(FakeModel(), [EarlyStopping("val_accuracy", mode="min")], 4,
                   acc).epoch == [0, 1]

    class Metric:
        def __init__(self, name, direction):
            self.name, self._direction = name, direction

    class Container:
        metrics = [Metric("score", "up")]

    model = FakeModel()
    model.metrics = [Metric("loss", "down"), Container()]
    es = EarlyStopping("val_score")
    assert run_fit(model, [es], 4, series_logs(val_score=[1, 2, 3, 2])).epoch == [0, 1, 2, 3]
    assert es.direction == "max"

    with pytest.raises(ValueError, match="mode='min' or mode='max'"):
        run_fit(FakeModel(), [EarlyStopping("val_custom")], 2, constant_logs(val_custom=1))
    with pytest.warns(UserWarning, match="unknown"):
        es = EarlyStopping(mode="sideways")
    assert es.mode == "auto"


def test_early_stopping_missing_key_warns_and_continues():
    with pytest.warns(UserWarning, match="val_loss.*not available. Available metrics are: loss"):
        history = run_fit(FakeModel(), [EarlyStopping()], 3, constant_logs(loss=1.0),
                          validation=False)
    assert history.epoch == [0, 1, 2]


def test_early_stopping_is_reusable():
    es = EarlyStopping(patience=1)
    logs = series_logs(val_loss=[1.0, 2.0, 3.0])
    assert run_fit(FakeModel(), [es], 3, logs).epoch == [0, 1]
    assert run_fit(FakeModel(), [es], 3, logs).epoch == [0, 1]


# -- ModelCheckpoint ----------------------------------------------------------------------


def test_checkpoint_file_names_and_contents(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "sub" / "ckpt-{epoch:02d}-{val_loss:.2f}.keras")
    run_fit(model, [ModelCheckpoint(pattern)], 3,
            series_logs(loss=[1, 1, 1], val_loss=[0.5, 0.25, 0.125]))
    names = sorted(os.listdir(tmp_path / "sub"))
    assert names == ["ckpt-01-0.50.keras", "ckpt-02-0.25.keras", "ckpt-03-0.12.keras"]
    for i, name in enumerate(names):
        assert saved_value(str(tmp_path / "sub" / name)) == (i + 1) * STEPS


def test_checkpoint_save_best_only_weights(tmp_path, capsys):
    model = FakeModel()
    path = str(tmp_path / "best.weights.npz")
    ckpt = ModelCheckpoint(path, save_best_only=True, save_weights_only=True, verbose=1)
    run_fit(model, [ckpt], 4, series_logs(val_loss=[0.5, 0.7, 0.3, 0.4]))
    assert saved_value(path) == 3 * STEPS
    assert len(model.saves) == 2
    assert os.listdir(tmp_path) == ["best.weights.npz"]  # no temporary files left
    assert capsys.readouterr().out == (
        f"\nEpoch 1: val_loss improved from inf to 0.50000, saving model to {path}\n"
        "\nEpoch 2: val_loss did not improve from 0.50000\n"
        f"\nEpoch 3: val_loss improved from 0.50000 to 0.30000, saving model to {path}\n"
        "\nEpoch 4: val_loss did not improve from 0.30000\n")


def test_checkpoint_mode_max_and_initial_value_threshold(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "m.keras")
    run_fit(model, [ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)], 4,
            series_logs(val_accuracy=[0.5, 0.9, 0.7, 0.8]))
    assert saved_value(path) == 2 * STEPS

    model = FakeModel()
    path = str(tmp_path / "t.keras")
    ckpt = ModelCheckpoint(path, save_best_only=True, initial_value_threshold=0.4)
    run_fit(model, [ckpt], 3, series_logs(val_loss=[0.5, 0.45, 0.3]))
    assert len(model.saves) == 1  # only epoch 2 beats the threshold
    assert saved_value(path) == 3 * STEPS


def test_checkpoint_every_n_batches_formats_batch(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt-{epoch}-{batch}.weights.npz")
    run_fit(model, [ModelCheckpoint(pattern, save_weights_only=True, save_freq=2)], 2)
    saved = {name: saved_value(str(tmp_path / name)) for name in os.listdir(tmp_path)}
    assert saved == {"ckpt-1-2.weights.npz": 2, "ckpt-2-1.weights.npz": 4,
                     "ckpt-2-3.weights.npz": 6}


def test_checkpoint_save_best_only_without_the_key_warns_and_saves(tmp_path):
    path = str(tmp_path / "m.keras")
    with pytest.warns(UserWarning, match="val_loss available"):
        run_fit(FakeModel(), [ModelCheckpoint(path, save_best_only=True)], 1,
                constant_logs(loss=1.0), validation=False)
    assert os.path.exists(path)


def test_checkpoint_unknown_placeholder_raises_key_error(tmp_path):
    with pytest.raises(KeyError, match="Failed to format"):
        run_fit(FakeModel(), [ModelCheckpoint(str(tmp_path / "{acc}.keras"))], 1)


@pytest.mark.parametrize("filepath, weights_only, message", [
    ("m.h5", False, "legacy HDF5"),
    ("m.weights.npz", False, "must end in `.keras`"),
    ("m", False, "must end in `.keras`"),
    ("m.weights.h5", True, r"\.weights\.npz.*not Keras' HDF5"),
    ("m.keras", True, r"must end in `\.weights\.npz`"),
])
def test_checkpoint_validates_extension(filepath, weights_only, message):
    with pytest.raises(ValueError, match=message):
        ModelCheckpoint(filepath, save_weights_only=weights_only)


@pytest.mark.parametrize("save_freq", ["batch", 0, -1, 1.5, True])
def test_checkpoint_rejects_bad_save_freq(save_freq):
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m.keras", save_freq=save_freq)


class FailingSaveModel(FakeModel):
    """Writes part of a file, then fails, on the save numbered ``fail_at`` (1-based)."""

    def __init__(self, fail_at):
        super().__init__()
        self.fail_at = fail_at
        self.calls = 0

    def save_weights(self, filepath):
        self.calls += 1
        if self.calls == self.fail_at:
            with open(filepath, "wb") as f:
                f.write(b"PK\x03\x04 partial")
            raise OSError("disk full")
        super().save_weights(filepath)


def test_checkpoint_failing_write_leaves_previous_file(tmp_path):
    model = FailingSaveModel(fail_at=2)
    path = str(tmp_path / "w.weights.npz")
    with pytest.raises(OSError, match="disk full"):
        run_fit(model, [ModelCheckpoint(path, save_weights_only=True)], 3)
    assert os.listdir(tmp_path) == ["w.weights.npz"]
    assert saved_value(path) == STEPS  # epoch 0's file, intact


# -- LearningRateScheduler ----------------------------------------------------------------


def test_scheduler_two_argument_schedule_and_logs():
    model = FakeModel(learning_rate=0.01)
    sched = LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr * 0.5)
    history = run_fit(model, [sched], 4)
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.005, 0.0025, 0.00125])
    assert model.optimizer.learning_rate == pytest.approx(0.00125)


def test_scheduler_one_argument_schedule(capsys):
    model = FakeModel()
    history = run_fit(model, [LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1),
                                                    verbose=1)], 2)
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05])
    assert capsys.readouterr().out == (
        "\nEpoch 1: LearningRateScheduler setting learning rate to 0.1.\n"
        "\nEpoch 2: LearningRateScheduler setting learning rate to 0.05.\n")


def test_scheduler_accepts_numpy_floats_and_rejects_other_types():
    model = FakeModel()
    run_fit(model, [LearningRateScheduler(lambda e, lr: np.float32(0.5))], 1)
    assert model.optimizer.learning_rate == 0.5
    for bad in (1, "0.1", None):
        with pytest.raises(ValueError, match="should be a float"):
            run_fit(FakeModel(), [LearningRateScheduler(lambda e, lr, bad=bad: bad)], 1)


def test_scheduler_does_not_hide_type_errors_of_the_schedule():
    def schedule(epoch, lr):
        return lr + "oops"

    with pytest.raises(TypeError, match="unsupported operand"):
        run_fit(FakeModel(), [LearningRateScheduler(schedule)], 1)


def test_scheduler_with_an_optimizer_schedule_raises_type_error():
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        run_fit(FakeModel(uses_schedule=True), [LearningRateScheduler(lambda e: 0.1)], 1)


# -- ReduceLROnPlateau --------------------------------------------------------------------


def test_reduce_lr_on_plateau_sequence_with_cooldown_and_min_lr(capsys):
    model = FakeModel(learning_rate=0.01)
    reduce = ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.002, verbose=1)
    history = run_fit(model, [reduce], 10, constant_logs(val_loss=1.0))
    # The logged rate is the one used during the epoch (read before any reduction).
    assert history.history["learning_rate"] == pytest.approx(
        [0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025, 0.002, 0.002, 0.002])
    assert model.optimizer.learning_rate == pytest.approx(0.002)
    assert capsys.readouterr().out == (
        "\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.005.\n"
        "\nEpoch 5: ReduceLROnPlateau reducing learning rate to 0.0025.\n"
        "\nEpoch 7: ReduceLROnPlateau reducing learning rate to 0.002.\n")


def test_reduce_lr_on_plateau_improvements_reset_wait():
    model = FakeModel(learning_rate=1.0)
    reduce = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=2, min_delta=0.05)
    history = run_fit(model, [reduce], 6,
                      series_logs(loss=[1.0, 0.9, 0.88, 0.7, 0.69, 0.68]))
    # 0.88 and 0.69 are within min_delta: no improvement; the reduction comes at epoch 5.
    assert history.history["learning_rate"] == pytest.approx([1, 1, 1, 1, 1, 1])
    assert model.optimizer.learning_rate == pytest.approx(0.1)


def test_reduce_lr_on_plateau_mode_auto_uses_acc_rule():
    reduce = ReduceLROnPlateau(monitor="val_acc")
    assert reduce.direction == "max"
    assert ReduceLROnPlateau(monitor="val_mse").direction == "min"
    model = FakeModel(learning_rate=1.0)
    run_fit(model, [ReduceLROnPlateau(monitor="val_accuracy", patience=1)], 3,
            series_logs(val_accuracy=[0.5, 0.6, 0.7]))
    assert model.optimizer.learning_rate == 1.0


def test_reduce_lr_on_plateau_rejects_factor_and_warns_on_missing_key():
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.warns(UserWarning, match="Learning rate reduction is conditioned"):
        history = run_fit(FakeModel(), [ReduceLROnPlateau()], 1, constant_logs(loss=1.0),
                          validation=False)
    assert history.history["learning_rate"] == [0.01]


# -- CSVLogger ----------------------------------------------------------------------------


def read_raw(path):
    """The file's text with its line endings as written (Keras' csv dialect: CRLF)."""
    return path.read_bytes().decode("utf-8")


def test_csv_logger_rows_are_flushed_per_epoch(tmp_path):
    path = tmp_path / "log.csv"
    rows_seen = []
    logger = CSVLogger(str(path))
    peek = LambdaCallback(on_epoch_end=lambda e, logs: rows_seen.append(read_raw(path)))
    run_fit(FakeModel(), [logger, peek], 2,
            series_logs(loss=[0.5, 0.25], val_loss=[1.5, 1.25], acc=[0.1, 0.2]))
    assert rows_seen[0] == "epoch,acc,loss,val_loss\r\n0,0.1,0.5,1.5\r\n"
    assert read_raw(path) == rows_seen[0] + "1,0.2,0.25,1.25\r\n"
    assert logger.csv_file.closed


def test_csv_logger_append_and_truncate(tmp_path):
    path = tmp_path / "log.csv"
    logs = constant_logs(loss=1.0)
    run_fit(FakeModel(), [CSVLogger(str(path), append=True)], 1, logs, validation=False)
    run_fit(FakeModel(), [CSVLogger(str(path), append=True)], 2, logs, validation=False,
            initial_epoch=1)
    assert read_raw(path) == "epoch,loss\r\n0,1.0\r\n1,1.0\r\n"
    run_fit(FakeModel(), [CSVLogger(str(path))], 1, logs, validation=False)
    assert read_raw(path) == "epoch,loss\r\n0,1.0\r\n"


def test_csv_logger_separator_missing_values_and_sequences(tmp_path):
    path = tmp_path / "log.csv"
    model = FakeModel()
    model.metrics_names = ["loss", "val_loss"]  # val_loss gets a column from epoch 0
    logs = [{"loss": 1.0, "vec": np.array([1, 2])}, {"loss": 0.5, "val_loss": 2.0},
            {"loss": np.array(0.25), "vec": [3.5], "name": "ignored: not in epoch 0"}]
    run_fit(model, [CSVLogger(str(path), separator=";")], 3, lambda e: logs[e])
    assert read_raw(path) == (
        "epoch;loss;vec;val_loss\r\n"
        '0;1.0;"""[1, 2]""";NA\r\n'
        "1;0.5;NA;2.0\r\n"
        '2;0.25;"""[3.5]""";NA\r\n')


# -- TerminateOnNaN -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.float32("-inf")])
def test_terminate_on_nan_stops_gracefully(bad, capsys):
    ended = []
    model = FakeModel()
    history = run_fit(model, [TerminateOnNaN(), LambdaCallback(on_train_end=ended.append)],
                      5, batch_logs=lambda e, b: {"loss": bad if (e, b) == (1, 1) else 1.0})
    assert history.epoch == [0, 1]
    assert model.value == STEPS + 2  # stopped after batch 1 of epoch 1
    assert ended  # on_train_end still runs
    assert capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"


def test_terminate_on_nan_raise_error_skips_train_end():
    ended = []
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 2"):
        run_fit(FakeModel(), [TerminateOnNaN(raise_error=True),
                              LambdaCallback(on_train_end=ended.append)], 5,
                batch_logs=lambda e, b: {"loss": np.nan if b == 2 else 1.0})
    assert ended == []


def test_terminate_on_nan_ignores_finite_and_missing_loss():
    history = run_fit(FakeModel(), [TerminateOnNaN(raise_error=True)], 2,
                      batch_logs=lambda e, b: {} if b else {"loss": 3.0})
    assert history.epoch == [0, 1]


# -- BackupAndRestore ---------------------------------------------------------------------


def test_backup_and_restore_resumes_after_an_interruption(tmp_path):
    backup_dir = str(tmp_path / "backup")
    model = FakeModel()
    with pytest.raises(Interrupt):
        run_fit(model, [BackupAndRestore(backup_dir), interrupt_at_epoch_end(2)], 5)
    assert sorted(os.listdir(backup_dir)) == ["latest.weights.npz", "training_metadata.json"]
    with open(os.path.join(backup_dir, "training_metadata.json")) as f:
        assert json.load(f) == {"epoch": 3, "batch": 0}

    fresh = FakeModel()
    history = run_fit(fresh, [BackupAndRestore(backup_dir)], 5)
    assert history.epoch == [3, 4]
    assert fresh.value == 5 * STEPS
    assert fresh.optimizer.iterations == 5 * STEPS  # the optimizer state came back too
    assert fresh._initial_epoch is None
    assert not os.path.exists(backup_dir)  # deleted once training completed


def test_backup_before_the_interrupted_epoch_is_redone(tmp_path):
    backup_dir = str(tmp_path / "backup")
    with pytest.raises(Interrupt):
        # The interrupter runs first, so epoch 2 is never backed up.
        run_fit(FakeModel(), [interrupt_at_epoch_end(2), BackupAndRestore(backup_dir)], 5)
    fresh = FakeModel()
    restored = []
    peek = LambdaCallback(on_epoch_begin=lambda e, logs: restored.append(fresh.value))
    history = run_fit(fresh, [BackupAndRestore(backup_dir), peek], 5)
    assert history.epoch == [2, 3, 4]
    assert restored[0] == 2 * STEPS


def test_backup_keep_checkpoint_and_fresh_start(tmp_path):
    backup_dir = tmp_path / "backup"
    model = FakeModel()
    history = run_fit(model, [BackupAndRestore(backup_dir, delete_checkpoint=False)], 2)
    assert history.epoch == [0, 1]  # nothing to restore: a normal run
    assert sorted(os.listdir(backup_dir)) == ["latest.weights.npz", "training_metadata.json"]
    # A completed run left its backup: the next run resumes after its last epoch.
    model = FakeModel()
    assert run_fit(model, [BackupAndRestore(backup_dir)], 3).epoch == [2]
    assert model.value == 3 * STEPS


def test_backup_every_n_batches(tmp_path):
    backup_dir = str(tmp_path / "backup")

    def stop_mid_epoch_1(batch, logs):
        if model.optimizer.iterations == STEPS + 1:  # epoch 1, after batch 0
            raise Interrupt

    model = FakeModel()
    with pytest.raises(Interrupt):
        run_fit(model, [BackupAndRestore(backup_dir, save_freq=2),
                        LambdaCallback(on_train_batch_begin=stop_mid_epoch_1)], 5)
    with open(os.path.join(backup_dir, "training_metadata.json")) as f:
        assert json.load(f) == {"epoch": 1, "batch": 0}
    fresh = FakeModel()
    restored = []
    peek = LambdaCallback(on_epoch_begin=lambda e, logs: restored.append(fresh.value))
    assert run_fit(fresh, [BackupAndRestore(backup_dir, save_freq=2), peek], 3).epoch == [1, 2]
    assert restored[0] == STEPS + 1


def test_backup_double_checkpoint_falls_back_to_previous(tmp_path):
    backup_dir = str(tmp_path / "backup")
    with pytest.raises(Interrupt):
        run_fit(FakeModel(), [BackupAndRestore(backup_dir, double_checkpoint=True),
                              interrupt_at_epoch_end(2)], 5)
    assert sorted(os.listdir(backup_dir)) == [
        "latest.weights.npz", "latest.weights.npz.bkp", "training_metadata.json",
        "training_metadata.json.bkp"]
    with open(os.path.join(backup_dir, "latest.weights.npz"), "wb") as f:
        f.write(b"garbage")  # corrupted by, say, a failing disk

    fresh = FakeModel()
    restored = []
    peek = LambdaCallback(on_epoch_begin=lambda e, logs: restored.append(fresh.value))
    with pytest.warns(UserWarning, match="restoring the previous one"):
        history = run_fit(fresh, [BackupAndRestore(backup_dir, double_checkpoint=True),
                                  peek], 5)
    assert history.epoch == [2, 3, 4]
    assert restored[0] == 2 * STEPS


def test_backup_corrupted_without_double_checkpoint_raises(tmp_path):
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    (backup_dir / "latest.weights.npz").write_bytes(b"garbage")
    with pytest.raises((OSError, ValueError, zipfile.BadZipFile)):
        run_fit(FakeModel(), [BackupAndRestore(str(backup_dir))], 2)


def test_backup_failing_weights_write_keeps_the_previous_backup(tmp_path):
    backup_dir = str(tmp_path / "backup")
    with pytest.raises(OSError, match="disk full"):
        run_fit(FailingSaveModel(fail_at=2), [BackupAndRestore(backup_dir)], 5)
    assert sorted(os.listdir(backup_dir)) == ["latest.weights.npz", "training_metadata.json"]
    assert saved_value(os.path.join(backup_dir, "latest.weights.npz")) == STEPS
    fresh = FakeModel()
    assert run_fit(fresh, [BackupAndRestore(backup_dir)], 3).epoch == [1, 2]
    assert fresh.value == 3 * STEPS


def test_backup_failing_metadata_write_keeps_the_previous_file(tmp_path, monkeypatch):
    backup_dir = str(tmp_path / "backup")
    model = FakeModel()
    run_fit(model, [BackupAndRestore(backup_dir, delete_checkpoint=False)], 1)
    metadata = os.path.join(backup_dir, "training_metadata.json")
    with open(metadata) as f:
        before = f.read()

    def failing_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(cb_module.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="I/O error"):
        cb_module._atomic_write_text(metadata, '{"epoch": 99, "ba')
    with open(metadata) as f:
        assert f.read() == before
    assert sorted(os.listdir(backup_dir)) == ["latest.weights.npz", "training_metadata.json"]


def test_backup_checks_arguments_and_built_model(tmp_path):
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq"):
        BackupAndRestore(str(tmp_path), save_freq="batch")
    backup_dir = str(tmp_path / "backup")
    run_fit(FakeModel(), [BackupAndRestore(backup_dir, delete_checkpoint=False)], 1)
    unbuilt = FakeModel()
    unbuilt.built = False
    with pytest.raises(ValueError, match="must be built"):
        run_fit(unbuilt, [BackupAndRestore(backup_dir)], 2)


def test_backup_leaves_other_files_in_backup_dir(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    run_fit(FakeModel(), [BackupAndRestore(str(tmp_path))], 2)
    assert os.listdir(tmp_path) == ["notes.txt"]
