"""Saving and loading models and weights, atomically.

Formats (gru_py's own; a Keras ``.keras`` file is not readable here, and the reverse):

* ``model.save("m.keras")`` writes a zip archive holding
    - ``metadata.json``: ``{"format": "gru_py.model", "format_version": 1,
      "gru_py_version": ...}``
    - ``config.json``: ``{"class_name": "Sequential" | "Model", "config": ...,
      "compile_config": ... or null}``
    - ``weights.npz``: ``weight_0000``, ``weight_0001``, ... in ``model.weights`` order,
      plus the optimizer state (``optimizer_iterations``, ``optimizer_slot_0000``, ...)
      once the optimizer has taken a step.
* ``model.save_weights("m.weights.npz")`` writes that ``weights.npz`` alone, with a
  ``__gru_py_format__`` entry.

Every write goes to a temporary file in the target's folder, is flushed to disk and then
renamed over the target, so an interrupted save never leaves a broken file behind.
Loading a corrupt, truncated or foreign file raises ValueError saying which.
"""

import contextlib
import io
import json
import os
import secrets
import warnings
import zipfile
import zlib

import numpy as np

FORMAT = "gru_py.model"
WEIGHTS_FORMAT = "gru_py.weights"
FORMAT_VERSION = 1


@contextlib.contextmanager
def atomic_write(filepath, overwrite=True):
    """Yields a binary file object; on success its content replaces ``filepath``.

    The temporary file is created with mode 0666 minus the umask, like a plain open(),
    so the saved file gets the permissions users expect.
    """
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")
    folder = os.path.dirname(os.path.abspath(filepath))
    temp = os.path.join(folder, f".gru_py-{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, filepath)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _weights_payload(model):
    """{name: array} for the model's weights and its optimizer state."""
    payload = {f"weight_{i:04d}": w for i, w in enumerate(model.weights)}
    # How many weights each layer owns, so that skip_mismatch can load layer by layer.
    payload["layer_weight_counts"] = np.array([len(layer.weights) for layer in model.layers],
                                              dtype=np.int64)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and optimizer.built:
        state = optimizer.get_slot_state()
        payload["optimizer_iterations"] = state[0]
        payload.update({f"optimizer_slot_{i:04d}": s for i, s in enumerate(state[1:])})
    return payload


def _npz_bytes(payload):
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    return buffer.getvalue()


def save_model(model, filepath, overwrite=True):
    """Writes architecture, weights, optimizer state and compile configuration."""
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"model.save: the file name must end in .keras, got {filepath!r}")
    from gru_py import __version__

    config = {"class_name": type(model).__name__, "config": model.get_config(),
              "compile_config": getattr(model, "_compile_config", None)
              if getattr(model, "compiled", False) else None}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "gru_py_version": __version__}
    with atomic_write(filepath, overwrite) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps(metadata))
        z.writestr("config.json", json.dumps(config))
        z.writestr("weights.npz", _npz_bytes(_weights_payload(model)))


def save_weights(model, filepath, overwrite=True):
    """Writes the weights and the optimizer state to a ``.weights.npz`` file."""
    filepath = os.fspath(filepath)
    if not filepath.endswith(".weights.npz"):
        raise ValueError(
            f"save_weights: the file name must end in .weights.npz (gru_py's weights format), "
            f"got {filepath!r}")
    payload = _weights_payload(model)
    payload["__gru_py_format__"] = np.array(WEIGHTS_FORMAT)
    with atomic_write(filepath, overwrite) as f:
        f.write(_npz_bytes(payload))


def _read_npz(data, source):
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with loaded as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error,
            NotImplementedError) as exc:
        raise ValueError(f"{source}: the weights are corrupt or truncated ({exc})") from None


def _open_model_archive(filepath):
    """(config dict, weights dict) from a model file, with clear errors."""
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No such file: {filepath!r}")
    try:
        with zipfile.ZipFile(filepath) as z:
            names = set(z.namelist())
            if not {"metadata.json", "config.json", "weights.npz"} <= names:
                raise ValueError(
                    f"{filepath}: not a gru_py model file (expected metadata.json, "
                    f"config.json and weights.npz, found {sorted(names)})")
            metadata = json.loads(z.read("metadata.json"))
            config = json.loads(z.read("config.json"))
            weights = _read_npz(z.read("weights.npz"), filepath)
    except zipfile.BadZipFile:
        raise ValueError(f"{filepath}: not a gru_py model file (not a zip archive, or "
                         "truncated)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, zipfile.LargeZipFile, OSError,
            EOFError, zlib.error, NotImplementedError) as exc:
        raise ValueError(f"{filepath}: the model file is corrupt ({exc})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{filepath}: not a gru_py model file (metadata format is "
                         f"{metadata.get('format') if isinstance(metadata, dict) else None!r})")
    version = metadata.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"{filepath}: corrupt metadata: format_version is {version!r}")
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise ValueError(f"{filepath}: corrupt config.json: expected an object with a config")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{filepath}: written by a newer gru_py (format version "
            f"{metadata.get('format_version')}); this version reads up to {FORMAT_VERSION}")
    return config, weights


def _apply_weights(model, payload, source, skip_mismatch=False):
    """Sets the model's weights (and optimizer state, if saved) from a payload dict.

    With skip_mismatch, as in Keras, every layer whose saved weights fit is loaded and
    the others are left as they are, with a warning; the optimizer state is then not
    restored, since it belongs to the whole set of weights.
    """
    names = sorted(k for k in payload if k.startswith("weight_"))
    arrays = [payload[k] for k in names]
    current = model.weights
    if len(arrays) == len(current) and all(a.shape == w.shape for a, w in zip(arrays, current)):
        model.set_weights(arrays)
        _restore_optimizer(model, payload)
        return
    if not skip_mismatch:
        raise ValueError(
            f"{source}: the saved weights do not fit this model: saved shapes "
            f"{[a.shape for a in arrays]}, model shapes {[w.shape for w in current]}")
    counts = [int(c) for c in payload.get("layer_weight_counts", [])]
    start = 0
    saved_per_layer = []
    for count in counts:
        saved_per_layer.append(arrays[start:start + count])
        start += count
    for i, layer in enumerate(model.layers):
        saved = saved_per_layer[i] if i < len(saved_per_layer) else None
        if saved is not None and [a.shape for a in saved] == [w.shape for w in layer.weights]:
            layer.set_weights(saved)
        elif layer.weights:
            warnings.warn(f"{source}: skipping layer '{layer.name}': its saved weights do not "
                          "fit", stacklevel=3)


def _restore_optimizer(model, payload):
    optimizer = getattr(model, "optimizer", None)
    slots = sorted(k for k in payload if k.startswith("optimizer_slot_"))
    if optimizer is not None and "optimizer_iterations" in payload:
        if not optimizer.built:
            optimizer.build([w for w, _ in model._trainable_pairs()])
        optimizer.set_slot_state([payload["optimizer_iterations"]] + [payload[k] for k in slots])


def load_weights(model, filepath, skip_mismatch=False):
    """Loads ``save_weights`` output (or the weights inside a ``save`` archive)."""
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):
        _, payload = _open_model_archive(filepath)
    elif filepath.endswith(".weights.npz"):
        if not os.path.exists(filepath):
            raise FileNotFoundError(f"No such file: {filepath!r}")
        with open(filepath, "rb") as f:
            payload = _read_npz(f.read(), filepath)
        if str(payload.get("__gru_py_format__", "")) != WEIGHTS_FORMAT:
            raise ValueError(f"{filepath}: not a gru_py weights file")
    else:
        raise ValueError(
            f"load_weights: the file name must end in .weights.npz or .keras, got {filepath!r}")
    if not model.built:
        raise ValueError("load_weights: build the model first (call it on data, or give it an "
                         "input shape)")
    _apply_weights(model, payload, filepath, skip_mismatch)


def load_model(filepath, compile=True):
    """Rebuilds a model saved with ``model.save``: architecture, weights and, when
    ``compile`` is true, its optimizer (with its state), loss and metrics."""
    from gru_py import models

    config, payload = _open_model_archive(filepath)
    classes = {"Sequential": models.Sequential, "Model": models.Model}
    cls = classes.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"{filepath}: unknown model class {config.get('class_name')!r}")
    try:
        model = cls.from_config(config["config"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{filepath}: the model configuration is corrupt ({exc!r})") from None
    compile_config = config.get("compile_config")
    if compile and compile_config:
        model.compile(optimizer=compile_config["optimizer"], loss=compile_config["loss"],
                      metrics=compile_config["metrics"] or None,
                      weighted_metrics=compile_config["weighted_metrics"] or None)
    if any(k.startswith("weight_") for k in payload) and not model.built:
        raise ValueError(f"{filepath}: the saved model has weights but no input shape")
    if model.built:
        if not (compile and compile_config):
            payload = {k: v for k, v in payload.items() if not k.startswith("optimizer_")}
        _apply_weights(model, payload, filepath)
    return model
