"""Keras 3's training callbacks (API_SPEC 4.5), on gru_py's NumPy models.

A callback hooks into ``fit``, ``evaluate`` and ``predict``: the loops call its ``on_*``
methods through a :class:`CallbackList`, which also adds :class:`History` and, unless
``verbose=0``, :class:`ProgbarLogger`. Constructor arguments and defaults are Keras 3's.

What a callback may use of the model:

- ``model.stop_training``: a bool the fit loop checks after each batch and epoch;
- ``model.get_weights()`` / ``model.set_weights(list)``: copies of the weights;
- ``model.optimizer.learning_rate`` (a float; setting it raises TypeError when the
  optimizer follows a schedule) and ``model.optimizer.iterations``;
- ``model.save(path)`` (a ``.keras`` file), ``model.save_weights(path)`` and
  ``model.load_weights(path)`` (``.weights.npz``: gru_py's weights format, which holds
  the layers' weights and the optimizer's state);
- ``model._initial_epoch``, set by :class:`BackupAndRestore` (see there);
- optionally ``model.metrics`` (metric objects with ``name`` and ``_direction``, used by
  ``mode="auto"``), ``model.metrics_names`` (used by :class:`CSVLogger`) and
  ``model.built``.

Files are written atomically: into a temporary file in the target's directory, then
moved over the target with ``os.replace``, so an interrupted or failing save never
leaves a partial file under the target's name.
"""

import collections.abc
import contextlib
import csv
import inspect
import json
import os
import shutil
import warnings
import zipfile

import numpy as np

from gru_py.utils.progbar import Progbar, _print_msg

_HOOKS = (
    "on_batch_begin", "on_batch_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
    "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end",
    "on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
    "on_predict_begin", "on_predict_end",
)

WEIGHTS_SUFFIX = ".weights.npz"
MODEL_SUFFIX = ".keras"


class Callback:
    """Base class of callbacks: every hook does nothing.

    Subclass it and override the hooks you need. The loops pass ``logs`` dicts: at a
    train or test batch end, the epoch-to-date metrics (``{"loss": 0.2, ...}``); at an
    epoch end, the epoch's metrics followed by the ``val_*`` ones; elsewhere usually an
    empty dict.

    Attributes:
        params: the loop's parameters, ``{"verbose", "epochs", "steps"}`` in ``fit``.
        model: the model being trained, evaluated or predicted with.
    """

    def __init__(self):
        self.params = None
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None):
        """Legacy alias: called by the default ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """Legacy alias: called by the default ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of epoch ``epoch`` (0-based) of ``fit``."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of an epoch with its metrics (and the ``val_*`` ones).
        Callbacks may add entries to ``logs``; later callbacks see them."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before training batch ``batch`` (0-based within the epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after a training batch, with the epoch-to-date metrics."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Called before a batch of ``evaluate`` or of validation in ``fit``."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after a batch of ``evaluate`` or of validation in ``fit``."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before a batch of ``predict``."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after a batch of ``predict``."""

    def on_train_begin(self, logs=None):
        """Called once when ``fit`` starts."""

    def on_train_end(self, logs=None):
        """Called once when ``fit`` ends normally (not when it raises), with the last
        epoch's logs."""

    def on_test_begin(self, logs=None):
        """Called when ``evaluate`` or a validation pass starts."""

    def on_test_end(self, logs=None):
        """Called when ``evaluate`` or a validation pass ends."""

    def on_predict_begin(self, logs=None):
        """Called when ``predict`` starts."""

    def on_predict_end(self, logs=None):
        """Called when ``predict`` ends."""


# -- containers and the default callbacks -----------------------------------------------


def _flatten_callbacks(callbacks):
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            f"callbacks must be a Callback or a list of Callbacks, got "
            f"{type(callbacks).__name__}")
    flat = []
    for item in callbacks:
        if isinstance(item, (list, tuple)):
            flat.extend(_flatten_callbacks(item))
        elif isinstance(item, Callback):
            flat.append(item)
        else:
            raise TypeError(
                "every callback must be an instance of gru_py.callbacks.Callback, got "
                f"{type(item).__name__}")
    return flat


def _pythonify_logs(logs):
    """Batch logs as the hooks receive them: sorted by key, nested dicts merged in,
    values turned into Python floats where they convert."""
    result = {}
    for key, value in sorted(logs.items()):
        if isinstance(value, dict):
            result.update(_pythonify_logs(value))
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass
        result[key] = value
    return result


class CallbackList(Callback):
    """Calls a list of callbacks as one.

    Args:
        callbacks: a Callback or a (nested) list of them.
        add_history: append a :class:`History` unless the list already has one.
        add_progbar: append a :class:`ProgbarLogger` unless the list already has one
            (``fit`` passes ``verbose != 0``).
        model: the model, given to every callback; with a History, ``model.history``
            is set to it.
        **params: given to every callback through ``set_params`` when non-empty; ``fit``
            passes ``verbose``, ``epochs`` and ``steps``.

    Unlike Keras, batch-end hooks always run synchronously (Keras may dispatch them to
    a thread pool when no callback overrides them).
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        super().__init__()
        self.callbacks = _flatten_callbacks(callbacks)
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next(
            (c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self.set_model(model)
        self.set_params(params)

    def append(self, callback):
        self.callbacks.extend(_flatten_callbacks(callback))

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def _call(self, hook, *args, logs=None):
        # As in Keras, batch hooks get ``logs`` by keyword, the others positionally.
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            if "batch" in hook:
                getattr(callback, hook)(*args, logs=logs)
            else:
                getattr(callback, hook)(*args, logs)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs=_pythonify_logs(logs or {}))

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=_pythonify_logs(logs or {}))

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=_pythonify_logs(logs or {}))

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs=logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs=logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs=logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs=logs)


class History(Callback):
    """Records the epoch logs; ``fit`` returns it.

    Attributes:
        history: ``{key: [value per epoch]}``.
        epoch: the indices of the epochs run (from ``initial_epoch``).
        params: ``{"verbose", "epochs", "steps"}`` from ``fit``.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        # The latest state is on the model even if fit is interrupted.
        self.model.history = self


class ProgbarLogger(Callback):
    """Prints progress with :class:`gru_py.utils.Progbar`.

    With verbose=1 a bar per epoch is updated after every batch; with verbose=2 one line
    is printed per epoch. ``Epoch {e}/{epochs}`` precedes each epoch when ``epochs >
    1``. Validation inside ``fit`` prints nothing; ``evaluate`` and ``predict`` get a
    bar of their own.
    """

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True  # validation passes stay silent

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            _print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)  # the batch's predictions are not metrics

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self):
        if self.progbar is None:
            self.progbar = Progbar(target=self.target, verbose=self.verbose,
                                   unit_name="step")

    def _update_progbar(self, batch, logs):
        self._maybe_init_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs):
        self._maybe_init_progbar()
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.target
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)


# -- monitoring a quantity --------------------------------------------------------------

# Directions of Keras' built-in metrics, for mode="auto" when the model does not expose
# metric objects with a ``_direction``.
_METRIC_DIRECTIONS = {
    **dict.fromkeys(
        ["accuracy", "acc", "binary_accuracy", "categorical_accuracy",
         "sparse_categorical_accuracy", "top_k_categorical_accuracy",
         "sparse_top_k_categorical_accuracy", "auc", "precision", "recall",
         "f1_score", "fbeta_score", "r2_score", "cosine_similarity"], "max"),
    **dict.fromkeys(
        ["mse", "mae", "mape", "msle", "mean_squared_error", "mean_absolute_error",
         "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
         "root_mean_squared_error", "binary_crossentropy", "categorical_crossentropy",
         "sparse_categorical_crossentropy", "hinge", "squared_hinge",
         "categorical_hinge", "kl_divergence", "poisson", "log_cosh_error"], "min"),
}


def _model_metrics(model):
    try:
        metrics = list(getattr(model, "metrics", None) or [])
    except (AttributeError, TypeError, ValueError):
        return []
    flat = []
    for metric in metrics:
        flat.append(metric)
        children = getattr(metric, "metrics", None)
        if isinstance(children, (list, tuple)):
            flat.extend(children)
    return flat


def _resolve_direction(owner, monitor, mode, model):
    """``"min"`` or ``"max"`` for a monitored quantity.

    ``mode="auto"`` follows Keras: a name ending in ``loss`` (after an optional ``val_``)
    is minimised; otherwise a model metric of that name decides through its
    ``_direction`` (``"up"`` maximises), falling back to the directions of Keras'
    built-in metrics.

    Raises:
        ValueError: the direction cannot be inferred.
    """
    if mode in ("min", "max"):
        return mode
    name = monitor[len("val_"):] if monitor.startswith("val_") else monitor
    direction = "min" if name.endswith("loss") else None
    for metric in _model_metrics(model):
        if getattr(metric, "name", None) == name and hasattr(metric, "_direction"):
            direction = "max" if metric._direction == "up" else "min"
    if direction is None:
        direction = _METRIC_DIRECTIONS.get(name)
    if direction is None:
        raise ValueError(
            f"{owner} got monitor={monitor!r} but cannot tell whether that quantity "
            "should be minimised or maximised. Pass mode='min' or mode='max'.")
    return direction


def _check_mode(owner, mode):
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{owner} mode {mode!r} is unknown, falling back to 'auto'.",
                      stacklevel=3)
        return "auto"
    return mode


def _missing_key_warning(what, monitor, logs):
    warnings.warn(
        f"{what} is conditioned on metric `{monitor}` which is not available. "
        f"Available metrics are: {','.join(logs)}", stacklevel=3)


class EarlyStopping(Callback):
    """Stops training when a monitored quantity stops improving.

    An epoch improves when ``current`` beats the best so far by more than ``min_delta``;
    otherwise ``wait`` grows, and training stops once ``wait >= patience`` (never at
    epoch 0).

    Args:
        monitor: the logs key to watch.
        min_delta: the smallest change that counts as an improvement (its sign is
            ignored).
        patience: epochs without improvement before stopping.
        verbose: 1 prints when training stops and when weights are restored.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (a ``*loss`` key is minimised,
            otherwise the metric's direction decides; an unknown direction raises
            ValueError at the first epoch end).
        baseline: ``wait`` only resets on epochs that also beat this value.
        restore_best_weights: when training ends, early or not, set the weights of the
            best epoch (from the first monitored epoch on; an epoch may be restored even
            if no epoch beat ``baseline``).
        start_from_epoch: epochs to let pass before monitoring.

    Attributes:
        stopped_epoch: the epoch at which training was stopped, 0 if it was not.
        best, best_epoch, best_weights, wait: the monitoring state.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = _check_mode("EarlyStopping", mode)
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.direction = None
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        if self.direction is None:  # resolved late: the model's metrics exist by now
            self.direction = _resolve_direction("EarlyStopping", self.monitor, self.mode,
                                                self.model)
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print_msg("Restoring model weights from the end of the best epoch: "
                           f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            _missing_key_warning("Early stopping", self.monitor, logs)
        return value

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        if self.direction == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference


# -- saving -----------------------------------------------------------------------------


def _temp_path(path):
    """A sibling of ``path`` for writing before the move; it keeps the file name's
    ending, so savers that check the extension accept it."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".tmp-{os.getpid()}-{name}")


def _fsync_file(path):
    with contextlib.suppress(OSError):  # e.g. platforms without fsync on read handles
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_save(path, save):
    """Runs ``save(temporary_path)`` then moves the result over ``path``. On failure the
    temporary file is removed and ``path`` is left as it was."""
    tmp = _temp_path(path)
    try:
        save(tmp)
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _atomic_write_text(path, text):
    _atomic_save(path, lambda tmp: _write_text(tmp, text))


def _atomic_copy(src, dst):
    _atomic_save(dst, lambda tmp: shutil.copyfile(src, tmp))


def _check_save_freq(save_freq):
    if save_freq == "epoch":
        return save_freq
    if isinstance(save_freq, (int, np.integer)) and not isinstance(save_freq, bool) \
            and save_freq > 0:
        return int(save_freq)
    raise ValueError(
        f"Unrecognized save_freq: {save_freq!r}. Expected 'epoch' or a positive integer "
        "(a number of batches).")


class _BatchCounter:
    """Counts training batches across epochs for ``save_freq=<int>`` (batches are
    0-based within an epoch, so a batch index that does not grow starts a new epoch)."""

    def __init__(self, every):
        self.every = every
        self.since_last = 0
        self.last_batch = 0

    def due(self, batch):
        added = batch + 1 if batch <= self.last_batch else batch - self.last_batch
        self.since_last += added
        self.last_batch = batch
        if self.since_last >= self.every:
            self.since_last = 0
            return True
        return False


class ModelCheckpoint(Callback):
    """Saves the model or its weights during training.

    Args:
        filepath: where to save; ``filepath.format(epoch=epoch + 1, **logs)`` fills
            placeholders such as ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"`` (with
            ``save_freq=<int>`` also ``batch``, 1-based). It must end in ``.keras``, or
            in ``.weights.npz`` with ``save_weights_only=True``: gru_py writes its own
            weights format, not Keras' ``.weights.h5``.
        monitor: the logs key compared with ``save_best_only``.
        verbose: 1 prints a line for each save decision.
        save_best_only: only save when ``monitor`` improves on the best value so far (a
            fixed ``filepath`` then always holds the best model).
        save_weights_only: ``model.save_weights`` instead of ``model.save``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (as in :class:`EarlyStopping`).
        save_freq: ``"epoch"`` or a number of training batches between saves.
        initial_value_threshold: the best value to beat at first with
            ``save_best_only``.

    Raises:
        ValueError: a bad extension or ``save_freq``.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = _check_mode("ModelCheckpoint", mode)
        self.save_freq = _check_save_freq(save_freq)
        self.best = initial_value_threshold
        self.direction = None
        self._counter = None if self.save_freq == "epoch" else _BatchCounter(self.save_freq)
        self._current_epoch = 0

        if save_weights_only:
            if not self.filepath.endswith(WEIGHTS_SUFFIX):
                hint = (" gru_py saves weights in its own format (.weights.npz), not "
                        "Keras' HDF5 .weights.h5." if self.filepath.endswith(".h5") else "")
                raise ValueError(
                    "With save_weights_only=True the filepath must end in `.weights.npz` "
                    f"(gru_py's weights format).{hint} Received: filepath={self.filepath}")
        elif not self.filepath.endswith(MODEL_SUFFIX):
            hint = (" gru_py does not write the legacy HDF5 format."
                    if self.filepath.endswith(".h5") else "")
            raise ValueError(
                "The filepath must end in `.keras` (the Keras model format) unless "
                f"save_weights_only=True.{hint} Received: filepath={self.filepath}")

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._counter is not None and self._counter.due(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". '
                f"Reason: {e}") from e

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                _print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.",
                          stacklevel=3)
            return True
        if np.ndim(current) > 0:
            warnings.warn(
                f"Can save best model only when `monitor` is a scalar value. Received: "
                f"{current}. Falling back to `save_best_only=False`.", stacklevel=3)
            return True
        if self.direction is None:
            self.direction = _resolve_direction("ModelCheckpoint", self.monitor, self.mode,
                                                self.model)
            if self.best is None:
                self.best = np.inf if self.direction == "min" else -np.inf
        best_text = f"{self.best:.5f}"
        improved = current < self.best if self.direction == "min" else current > self.best
        if improved:
            if self.verbose > 0:
                _print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_text} "
                           f"to {current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                       f"{best_text}")
        return False

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise OSError("Please specify a non-directory filepath for ModelCheckpoint. "
                          f"Filepath used is an existing directory: {filepath}")
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        saver = self.model.save_weights if self.save_weights_only else self.model.save
        _atomic_save(filepath, saver)


class BackupAndRestore(Callback):
    """Backs up the training state so that an interrupted ``fit`` can resume.

    At every epoch end (or every ``save_freq`` batches) the callback writes, into
    ``backup_dir``, ``latest.weights.npz`` through ``model.save_weights`` (layer weights
    and optimizer state) and ``training_metadata.json`` (``{"epoch": e, "batch": b}``,
    ``e`` being the epoch to resume from). Each file is written to a temporary file and
    moved into place, so a crash mid-write leaves the previous backup intact.

    Contract with the fit loop: in ``on_train_begin`` the callback loads the backup, if
    any, with ``model.load_weights`` and sets ``model._initial_epoch`` to the epoch to
    resume from. The fit loop sets ``model._initial_epoch = None``, calls
    ``on_train_begin``, then starts its epoch loop from ``model._initial_epoch`` if that
    is no longer None, instead of from its ``initial_epoch`` argument. An epoch
    interrupted halfway is run again from its start (with ``save_freq=<int>``, from the
    weights of the last batch backed up).

    When ``fit`` completes, ``on_train_end`` deletes the backup (with
    ``delete_checkpoint=True``). A ``fit`` that raises does not call it, so the backup
    survives for the next run.

    Args:
        backup_dir: the directory for the backup; do not share it with other callbacks
            or runs.
        save_freq: ``"epoch"`` or a number of training batches between backups.
        double_checkpoint: keep the previous backup too (``*.bkp``); if the latest one
            cannot be loaded (corrupted file) the previous one is restored instead.
        delete_checkpoint: delete the backup files when training completes.

    Raises:
        ValueError: an empty ``backup_dir`` or a bad ``save_freq``.
    """

    # What loading a corrupted backup raises: a truncated or garbled .npz (zip) or JSON.
    _LOAD_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = _check_save_freq(save_freq)
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._weights_path = os.path.join(self.backup_dir, "latest" + WEIGHTS_SUFFIX)
        self._training_metadata_path = os.path.join(self.backup_dir,
                                                    "training_metadata.json")
        self._prev_weights_path = self._weights_path + ".bkp"
        self._prev_training_metadata_path = self._training_metadata_path + ".bkp"
        self._counter = None if self.save_freq == "epoch" else _BatchCounter(self.save_freq)
        self._current_epoch = 0

    def on_train_begin(self, logs=None):
        try:
            self._restore()
        except self._LOAD_ERRORS as error:
            if not (self.double_checkpoint and os.path.exists(self._prev_weights_path)):
                raise
            warnings.warn(f"BackupAndRestore: the latest backup could not be loaded "
                          f"({error!r}); restoring the previous one.", stacklevel=2)
            _atomic_copy(self._prev_weights_path, self._weights_path)
            if os.path.exists(self._prev_training_metadata_path):
                _atomic_copy(self._prev_training_metadata_path,
                             self._training_metadata_path)
            elif os.path.exists(self._training_metadata_path):
                os.remove(self._training_metadata_path)
            self._restore()

    def _restore(self):
        if os.path.exists(self._weights_path):
            if getattr(self.model, "built", True) is False:
                raise ValueError(
                    "To use the BackupAndRestore callback, your model must be built "
                    f"before you call fit(). Model {self.model} is unbuilt. Build it "
                    "beforehand by calling it on a batch of data.")
            self.model.load_weights(self._weights_path)
        if os.path.exists(self._training_metadata_path):
            with open(self._training_metadata_path, encoding="utf-8") as f:
                metadata = json.load(f)
            epoch = int(metadata["epoch"])
            self._current_epoch = epoch
            self.model._initial_epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        if self._counter is not None:
            self._counter.last_batch = 0
        if self.save_freq == "epoch":
            self._save(batch=0)

    def on_train_batch_end(self, batch, logs=None):
        if self._counter is not None and self._counter.due(batch):
            self._save(batch=batch)

    def _save(self, batch):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            if os.path.exists(self._weights_path):
                _atomic_copy(self._weights_path, self._prev_weights_path)
            if os.path.exists(self._training_metadata_path):
                _atomic_copy(self._training_metadata_path, self._prev_training_metadata_path)
        _atomic_save(self._weights_path, self.model.save_weights)
        _atomic_write_text(self._training_metadata_path,
                           json.dumps({"epoch": self._current_epoch, "batch": batch}))

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        # Only this callback's files are deleted, then the directory if that empties it
        # (Keras deletes the whole directory tree).
        for path in (self._weights_path, self._training_metadata_path,
                     self._prev_weights_path, self._prev_training_metadata_path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        with contextlib.suppress(OSError):
            os.rmdir(self.backup_dir)


# -- learning rate -------------------------------------------------------------------------


def _get_lr(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError('Optimizer must have a "learning_rate" attribute.')
    return float(optimizer.learning_rate)


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch.

    Args:
        schedule: ``schedule(epoch, lr) -> float`` (epoch 0-based, lr the current
            rate) or ``schedule(epoch) -> float``.
        verbose: 1 prints the rate set.

    The epoch logs get a ``learning_rate`` entry.

    Raises:
        ValueError: ``schedule`` returned something other than a float.
        TypeError: the optimizer follows a learning-rate schedule, which cannot be set.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def _call_schedule(self, epoch, lr):
        try:
            signature = inspect.signature(self.schedule)
        except (TypeError, ValueError):  # builtins without a signature
            signature = None
        if signature is None:
            try:
                return self.schedule(epoch, lr)
            except TypeError:
                return self.schedule(epoch)
        try:
            signature.bind(epoch, lr)
        except TypeError:
            return self.schedule(epoch)
        return self.schedule(epoch, lr)

    def on_epoch_begin(self, epoch, logs=None):
        lr = self._call_schedule(epoch, _get_lr(self.model))
        if not isinstance(lr, (float, np.floating)):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {lr!r}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate "
                       f"to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _get_lr(self.model)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when a quantity stops improving.

    After ``patience`` epochs without improvement (beyond ``min_delta``) the rate
    becomes ``max(lr * factor, min_lr)`` (if it is still above ``min_lr``), then
    ``cooldown`` epochs pass before epochs without improvement count again.

    Args:
        monitor: the logs key to watch.
        factor: the multiplier, below 1.
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (Keras' rule for this callback: maximise
            when ``"acc"`` is in the monitored name, otherwise minimise).
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction.
        min_lr: the lower bound of the rate.

    The epoch logs get a ``learning_rate`` entry (the rate during that epoch).

    Raises:
        ValueError: ``factor >= 1``.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor="
                f"{factor}")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = _check_mode("ReduceLROnPlateau", mode)
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._reset()

    def _reset(self):
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self.direction = "min"
            self.best = np.inf
        else:
            self.direction = "max"
            self.best = -np.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _improved(self, current):
        if self.direction == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _get_lr(self.model)
        current = logs.get(self.monitor)
        if current is None:
            _missing_key_warning("Learning rate reduction", self.monitor, logs)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _get_lr(self.model)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        _print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing "
                                   f"learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


# -- logging and control ------------------------------------------------------------------


def _csv_value(value):
    """Keras' CSV cell: strings as they are, sequences and arrays (not 0-d) as
    ``"[a, b]"`` with the quotes, anything else as it is."""
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value
    if isinstance(value, collections.abc.Iterable):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class CSVLogger(Callback):
    """Writes one row of epoch logs per epoch to a CSV file.

    The columns are ``epoch`` (0-based) and the first epoch's log keys, sorted, plus the
    model's ``val_*`` metric names (``model.metrics_names``, when it has them) so that
    validation columns exist even if the first epoch was not validated. A missing value
    is written ``NA``. Each row is flushed as it is written.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: append to an existing file (without repeating its header) rather than
            truncating it when training begins.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        self.append_header = True
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, encoding="utf-8") as f:
                    self.append_header = not f.readline()
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            names = getattr(self.model, "metrics_names", None) or []
            self.keys += [n for n in names if n.startswith("val_") and n not in self.keys]
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys],
                                         delimiter=self.sep, lineterminator="\r\n")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    """Stops training when a batch's ``loss`` is NaN or infinite.

    Args:
        raise_error: raise RuntimeError at once (``on_train_end`` is then not called,
            so e.g. a :class:`BackupAndRestore` backup survives) instead of setting
            ``model.stop_training``.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        if not np.all(np.isfinite(loss)):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                    "Terminating training immediately.")
            _print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback built from functions.

    Args:
        on_epoch_begin, on_epoch_end: ``f(epoch, logs)``.
        on_train_begin, on_train_end: ``f(logs)``.
        on_train_batch_begin, on_train_batch_end: ``f(batch, logs)``.
        **kwargs: any other hook by name (``on_test_end=f``, ...), with that hook's
            arguments.

    Raises:
        ValueError: a keyword that is not a hook name (Keras accepts and ignores it).
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        unknown = sorted(set(kwargs) - set(_HOOKS))
        if unknown:
            raise ValueError(f"LambdaCallback: unknown hooks {unknown}; expected names "
                             f"among {list(_HOOKS)}")
        hooks = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: {name} must be callable, got {fn!r}")
                setattr(self, name, fn)


__all__ = [
    "BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping",
    "History", "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint",
    "ProgbarLogger", "ReduceLROnPlateau", "TerminateOnNaN",
]
