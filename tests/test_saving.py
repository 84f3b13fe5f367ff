"""Tests of saving and loading: model.save / load_model across processes, save_weights /
load_weights, atomic writes (exceptions and SIGKILL half-way), corrupt and foreign files,
get_config / from_config and clone_model.

Dimension letters: N samples, T timesteps, F input features.
"""

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings
import zipfile

import numpy as np
import pytest

import gru_py
from gru_py import layers, models, optimizers
from gru_py.utils import set_random_seed

N, T, F = 12, 6, 3
BATCH = 4

# The folder holding the gru_py package this test imported: children must import it too.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(gru_py.__file__)))


def _child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + env["PYTHONPATH"]
                                        if env.get("PYTHONPATH") else "")
    return env


def _run_child(script, cwd, *args, timeout=120):
    """Runs a Python script in a new interpreter (cwd=cwd); returns its stdout."""
    path = cwd / "child_script.py"
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path), *map(str, args)], cwd=cwd,
                          env=_child_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert proc.returncode == 0, f"child failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# -- models and data ------------------------------------------------------------------------


def make_sequential():
    """Stacked GRU + Dense softmax."""
    return gru_py.Sequential([
        gru_py.Input(shape=(T, F)),
        layers.GRU(5, return_sequences=True),
        layers.GRU(4),
        layers.Dense(3, activation="softmax"),
    ])


def make_functional():
    """Two inputs joined by Concatenate."""
    seq = gru_py.Input(shape=(T, F))
    aux = gru_py.Input(shape=(2,))
    h = layers.GRU(5)(seq)
    joined = layers.Concatenate()([h, aux])
    out = layers.Dense(3, activation="softmax")(joined)
    return gru_py.Model([seq, aux], out)


MAKERS = {"sequential": make_sequential, "functional": make_functional}


def make_data(kind, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, T, F)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, N)]
    if kind == "functional":
        return [x, rng.normal(size=(N, 2)).astype(np.float32)], y
    return x, y


def trained_model(kind, optimizer="adam", seed=0, epochs=1):
    set_random_seed(seed)
    model = MAKERS[kind]()
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = make_data(kind)
    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0)
    return model


def _save_data(path, x, y):
    xs = x if isinstance(x, list) else [x]
    np.savez(path, y=y, **{f"x{i}": a for i, a in enumerate(xs)})


def _assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert u.shape == v.shape
        np.testing.assert_array_equal(u, v)


def _assert_same_slots(a, b):
    sa, sb = a.optimizer.get_slot_state(), b.optimizer.get_slot_state()
    assert len(sa) == len(sb)
    assert int(sa[0]) == int(sb[0])
    for u, v in zip(sa[1:], sb[1:]):
        np.testing.assert_array_equal(u, v)


# -- save / load_model in a new process -----------------------------------------------------

CHILD_CONTINUE = r"""
import json, sys
import numpy as np
import gru_py

model_path, data_path, out_path = sys.argv[1:4]
data = np.load(data_path)
xs = [data[k] for k in sorted(k for k in data.files if k.startswith("x"))]
x = xs[0] if len(xs) == 1 else xs
y = data["y"]
model = gru_py.models.load_model(model_path)
pred = model.predict(x, batch_size=4, verbose=0)
evaluation = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
info = {
    "file": gru_py.__file__,
    "class": type(model).__name__,
    "compiled": model.compiled,
    "optimizer": gru_py.optimizers.serialize(model.optimizer),
    "loss": gru_py.losses.serialize(model.loss),
    "iterations": int(model.optimizer.iterations),
    "evaluate": evaluation,
}
model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
weights = model.get_weights()
np.savez(out_path, pred=pred, **{f"w{i:03d}": w for i, w in enumerate(weights)})
print(json.dumps(info))
"""

OPTIMIZERS = {
    "adam": lambda: "adam",
    "rmsprop": lambda: optimizers.RMSprop(learning_rate=0.01, momentum=0.5),
    "sgd_momentum": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
}


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_save_then_load_in_new_process_continues_bit_identically(tmp_path, kind, opt):
    model = trained_model(kind, OPTIMIZERS[opt]())
    x, y = make_data(kind)
    model.save(tmp_path / "model.keras")
    _save_data(tmp_path / "data.npz", x, y)

    out = _run_child(CHILD_CONTINUE, tmp_path, "model.keras", "data.npz", "out.npz")
    info = json.loads(out.strip().splitlines()[-1])

    # The child used the very package under test.
    assert os.path.realpath(info["file"]) == os.path.realpath(gru_py.__file__)
    assert info["class"] == type(model).__name__
    # Compile configuration and optimizer state survived.
    assert info["compiled"] is True
    assert info["optimizer"] == json.loads(json.dumps(optimizers.serialize(model.optimizer)))
    assert info["loss"] == json.loads(json.dumps(gru_py.losses.serialize(model.loss)))
    assert info["iterations"] == int(model.optimizer.iterations) == 3

    pred = model.predict(x, batch_size=BATCH, verbose=0)
    evaluation = model.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)

    with np.load(tmp_path / "out.npz") as child:
        np.testing.assert_array_equal(child["pred"], pred)  # bit-identical predictions
        child_weights = [child[k] for k in sorted(k for k in child.files if k.startswith("w"))]
    assert info["evaluate"] == evaluation
    weights = model.get_weights()
    assert len(child_weights) == len(weights)
    for w_child, w_parent in zip(child_weights, weights):
        np.testing.assert_array_equal(w_child, w_parent)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_load_model_in_process_restores_weights_slots_and_compile(tmp_path, kind):
    model = trained_model(kind)
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    assert type(loaded) is type(model)
    _assert_same_weights(model, loaded)
    _assert_same_slots(model, loaded)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    # The weights are the model's own arrays, not views into the file's buffers.
    assert all(w.flags.writeable for w in loaded.weights)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_load_model_compile_false(tmp_path, kind):
    model = trained_model(kind)
    x, _ = make_data(kind)
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras", compile=False)
    assert not loaded.compiled
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("stage", ["uncompiled", "compiled_untrained"])
def test_save_before_training(tmp_path, stage):
    set_random_seed(3)
    model = make_sequential()
    x, y = make_data("sequential")
    if stage == "compiled_untrained":
        model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    _assert_same_weights(model, loaded)
    assert loaded.compiled == (stage == "compiled_untrained")
    if loaded.compiled:
        # Fresh optimizer on both sides: training continues identically.
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        loaded.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        _assert_same_weights(model, loaded)


def test_save_unbuilt_sequential_round_trips(tmp_path):
    model = gru_py.Sequential([layers.GRU(3), layers.Dense(2)])
    assert not model.built
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    assert not loaded.built
    assert [type(layer).__name__ for layer in loaded.layers] == ["GRU", "Dense"]


def test_save_overwrite_false(tmp_path):
    model = trained_model("sequential")
    path = tmp_path / "m.keras"
    model.save(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False)
    weights_path = tmp_path / "w.weights.npz"
    model.save_weights(weights_path)
    weights_before = weights_path.read_bytes()
    with pytest.raises(FileExistsError):
        model.save_weights(weights_path, overwrite=False)
    assert path.read_bytes() == before
    assert weights_path.read_bytes() == weights_before
    assert sorted(os.listdir(tmp_path)) == ["m.keras", "w.weights.npz"]


# -- save_weights / load_weights --------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("suffix", [".weights.npz", ".keras"])
def test_weights_round_trip_with_optimizer_state(tmp_path, kind, suffix):
    source = trained_model(kind, seed=0)
    path = tmp_path / f"w{suffix}"
    if suffix == ".keras":
        source.save(path)
    else:
        source.save_weights(path)
    target = trained_model(kind, seed=7, epochs=0)  # other weights, optimizer not built
    assert not np.array_equal(source.get_weights()[0], target.get_weights()[0])
    target.load_weights(path)
    _assert_same_weights(source, target)
    _assert_same_slots(source, target)

    x, y = make_data(kind)
    for m in (source, target):
        m.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    _assert_same_weights(source, target)


def test_load_weights_into_uncompiled_model(tmp_path):
    source = trained_model("sequential")
    source.save_weights(tmp_path / "w.weights.npz")
    set_random_seed(5)
    target = make_sequential()
    target.load_weights(tmp_path / "w.weights.npz")
    _assert_same_weights(source, target)


@pytest.mark.parametrize("name", ["w.h5", "w.npz", "w.weights.h5", "w.keras", "weights", "w.npy"])
def test_save_weights_wrong_extension(tmp_path, name):
    model = trained_model("sequential")
    with pytest.raises(ValueError, match=r"\.weights\.npz"):
        model.save_weights(tmp_path / name)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["w.h5", "w.npz", "w.weights.h5", "weights", "w.zip"])
def test_load_weights_wrong_extension(tmp_path, name):
    model = trained_model("sequential")
    model.save_weights(tmp_path / "good.weights.npz")
    os.replace(tmp_path / "good.weights.npz", tmp_path / name)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"\.weights\.npz"):
        model.load_weights(tmp_path / name)
    for u, v in zip(before, model.get_weights()):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("name", ["m.h5", "m.zip", "m.weights.npz", "model"])
def test_save_wrong_extension(tmp_path, name):
    model = trained_model("sequential")
    with pytest.raises(ValueError, match=r"\.keras"):
        model.save(tmp_path / name)
    assert os.listdir(tmp_path) == []


def _other_architectures():
    return {
        "wider_gru": lambda: gru_py.Sequential([
            gru_py.Input(shape=(T, F)), layers.GRU(6, return_sequences=True),
            layers.GRU(4), layers.Dense(3, activation="softmax")]),
        "fewer_layers": lambda: gru_py.Sequential([
            gru_py.Input(shape=(T, F)), layers.GRU(4), layers.Dense(3, activation="softmax")]),
        "other_input": lambda: gru_py.Sequential([
            gru_py.Input(shape=(T, F + 1)), layers.GRU(5, return_sequences=True),
            layers.GRU(4), layers.Dense(3, activation="softmax")]),
        "reset_before": lambda: gru_py.Sequential([
            gru_py.Input(shape=(T, F)), layers.GRU(5, return_sequences=True, reset_after=False),
            layers.GRU(4), layers.Dense(3, activation="softmax")]),
    }


@pytest.mark.parametrize("suffix", [".weights.npz", ".keras"])
@pytest.mark.parametrize("arch", sorted(_other_architectures()))
def test_load_weights_other_architecture(tmp_path, arch, suffix):
    source = trained_model("sequential")
    path = tmp_path / f"w{suffix}"
    source.save(path) if suffix == ".keras" else source.save_weights(path)
    set_random_seed(11)
    target = _other_architectures()[arch]()
    before = target.get_weights()
    with pytest.raises(ValueError) as info:
        target.load_weights(path)
    message = str(info.value)
    # The message names the saved and the model's shapes (those that differ at least).
    assert "shapes" in message
    source_shapes = {w.shape for w in source.weights}
    target_shapes = {w.shape for w in target.weights}
    for shape in source_shapes ^ target_shapes:
        assert str(shape) in message
    for u, v in zip(before, target.get_weights()):
        np.testing.assert_array_equal(u, v)
    # skip_mismatch=True: no error; as in Keras, layers whose saved weights fit are
    # loaded and the others are left untouched.
    before_by_layer = [layer.get_weights() for layer in target.layers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target.load_weights(path, skip_mismatch=True)
    for src, dst, old in zip(source.layers, target.layers, before_by_layer):
        fits = [w.shape for w in src.weights] == [w.shape for w in dst.weights]
        want = src.get_weights() if fits else old
        for u, v in zip(want, dst.get_weights()):
            np.testing.assert_array_equal(u, v)


def test_skip_mismatch_loads_the_layers_that_fit_as_keras(tmp_path):
    """Keras 3 (saving_lib._load_state) loads every layer whose weights fit and skips
    (with a warning) only the layers that do not. Here only the Dense head differs."""
    source = trained_model("sequential")
    source.save_weights(tmp_path / "w.weights.npz")
    set_random_seed(11)
    target = gru_py.Sequential([
        gru_py.Input(shape=(T, F)), layers.GRU(5, return_sequences=True), layers.GRU(4),
        layers.Dense(2, activation="softmax")])
    head_before = target.layers[-1].get_weights()
    target.load_weights(tmp_path / "w.weights.npz", skip_mismatch=True)
    for layer_source, layer_target in zip(source.layers[:2], target.layers[:2]):
        for u, v in zip(layer_source.get_weights(), layer_target.get_weights()):
            np.testing.assert_array_equal(u, v)
    for u, v in zip(head_before, target.layers[-1].get_weights()):
        np.testing.assert_array_equal(u, v)


def test_load_weights_unbuilt_model(tmp_path):
    source = trained_model("sequential")
    source.save_weights(tmp_path / "w.weights.npz")
    target = gru_py.Sequential([layers.GRU(5, return_sequences=True), layers.GRU(4),
                                layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="build"):
        target.load_weights(tmp_path / "w.weights.npz")


# -- atomicity: exceptions half-way -------------------------------------------------------------


class _DiskFullFile:
    """Wraps a real file; accepts `budget` bytes, then raises like a full disk."""

    def __init__(self, f, budget, exc):
        self._f, self._budget, self._exc = f, budget, exc

    def write(self, data):
        data = memoryview(data).cast("B")
        n = min(len(data), self._budget)
        self._f.write(data[:n])
        self._budget -= n
        if n < len(data):
            raise self._exc
        return n

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._f.close()
        return False


def _failure_points(monkeypatch, point, exc, budget):
    """Makes the next save fail at `point` by raising `exc`."""
    if point == "np.savez":
        def savez(*args, **kwargs):
            raise exc
        monkeypatch.setattr(np, "savez", savez)
    elif point == "writestr_second_member":
        original = zipfile.ZipFile.writestr
        calls = []

        def writestr(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise exc
            return original(self, *args, **kwargs)
        monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)
    elif point == "disk_full_half_way":
        real_fdopen = os.fdopen

        def fdopen(*args, **kwargs):
            return _DiskFullFile(real_fdopen(*args, **kwargs), budget, exc)
        monkeypatch.setattr(os, "fdopen", fdopen)
    elif point == "fsync":
        def fsync(fd):
            raise exc
        monkeypatch.setattr(os, "fsync", fsync)
    elif point == "replace":
        def replace(*args, **kwargs):
            raise exc
        monkeypatch.setattr(os, "replace", replace)
    else:
        raise AssertionError(point)


# Where a save can fail; save_weights writes no zip member with writestr.
FAILURE_CASES = [(what, point) for what in ("model", "weights")
                 for point in ("np.savez", "writestr_second_member", "disk_full_half_way",
                               "fsync", "replace")
                 if not (what == "weights" and point == "writestr_second_member")]


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["OSError", "KeyboardInterrupt"])
@pytest.mark.parametrize("what, point", FAILURE_CASES)
def test_failed_save_keeps_previous_file(tmp_path, monkeypatch, what, point, exc):
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / ("m.keras" if what == "model" else "m.weights.npz")
    old = trained_model("sequential", seed=0)
    new = trained_model("sequential", seed=1, epochs=2)
    save = (lambda m: m.save(target)) if what == "model" else (lambda m: m.save_weights(target))
    save(old)
    previous = target.read_bytes()
    with monkeypatch.context() as patch:
        _failure_points(patch, point, exc, budget=len(previous) // 2)
        with pytest.raises(type(exc)):
            save(new)
    # The previous complete file is still at the target, and nothing else is left.
    assert os.listdir(folder) == [target.name]
    assert target.read_bytes() == previous
    check = trained_model("sequential", seed=5, epochs=0)
    check.load_weights(target)
    _assert_same_weights(old, check)
    # And the next save (no failure) works.
    save(new)
    assert os.listdir(folder) == [target.name]
    check.load_weights(target)
    _assert_same_weights(new, check)


@pytest.mark.parametrize("what", ["model", "weights"])
def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch, what):
    model = trained_model("sequential")
    target = tmp_path / ("m.keras" if what == "model" else "m.weights.npz")
    with monkeypatch.context() as patch:
        _failure_points(patch, "disk_full_half_way", OSError(28, "No space left"), budget=300)
        with pytest.raises(OSError):
            model.save(target) if what == "model" else model.save_weights(target)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("what", ["model", "weights"])
def test_saved_file_permissions_follow_umask(tmp_path, what):
    """A saved file gets the permissions a plain open(path, "wb") would give it (as
    Keras' saving does), not the 0600 of a private temporary file."""
    model = trained_model("sequential")
    target = tmp_path / ("m.keras" if what == "model" else "m.weights.npz")
    model.save(target) if what == "model" else model.save_weights(target)
    plain = tmp_path / "plain.bin"
    with open(plain, "wb"):
        pass
    assert oct(os.stat(target).st_mode & 0o777) == oct(os.stat(plain).st_mode & 0o777)


# -- atomicity: SIGKILL half-way --------------------------------------------------------------

CHILD_SAVE_LOOP = r"""
import sys
import numpy as np
import gru_py
from gru_py import layers

target = sys.argv[1]
gru_py.utils.set_random_seed(0)
# A large model (GRU(512): ~1.2M parameters, a few MB per file) so that every save takes
# a while; glorot recurrent weights only to build it quickly.
model = gru_py.Sequential([
    gru_py.Input(shape=(None, 256)),
    layers.GRU(512, recurrent_initializer="glorot_uniform"),
    layers.Dense(4),
])
print("READY", flush=True)
version = 0
while True:
    # Version k: the first entry of every weight is k, so a file mixing versions shows.
    for w in model.weights:
        w.flat[0] = version
    model.save(target)
    print("SAVED", version, flush=True)
    version += 1
"""

KILL_TRIALS = 6


def _big_model():
    return gru_py.Sequential([
        gru_py.Input(shape=(None, 256)),
        layers.GRU(512, recurrent_initializer="zeros", kernel_initializer="zeros"),
        layers.Dense(4, kernel_initializer="zeros"),
    ])


def test_sigkill_during_save_never_leaves_a_partial_file(tmp_path):
    script = tmp_path / "save_loop.py"
    script.write_text(CHILD_SAVE_LOOP)
    checker = _big_model()
    delays = random.Random(1234)
    kills_mid_write = 0
    outcomes = []
    for trial in range(KILL_TRIALS):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        target = folder / "big.keras"
        proc = subprocess.Popen([sys.executable, str(script), str(target)], cwd=folder,
                                env=_child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "READY", proc.stderr.read()
            # Trial 0 dies at once (most likely before any save finished), the others at
            # random points later.
            time.sleep(0.0 if trial == 0 else delays.uniform(0.05, 1.2))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            saved = [int(line.split()[1]) for line in proc.stdout.read().splitlines()
                     if line.startswith("SAVED")]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        leftovers = [n for n in os.listdir(folder) if n != "big.keras"]
        kills_mid_write += bool(leftovers)
        if not target.exists():
            assert not saved, "a save completed but the target is missing"
            outcomes.append(None)
            continue
        # The target is a complete file of one version: the last one reported, or the
        # next one if the kill came between the rename and the report.
        checker.load_weights(target)
        markers = {float(w.flat[0]) for w in checker.weights}
        assert len(markers) == 1, f"the file mixes versions {markers}"
        version = int(markers.pop())
        last = saved[-1] if saved else -1
        assert version in (last, last + 1)
        outcomes.append(version)
    # The kills did land in the middle of writes (else the test would prove nothing).
    assert kills_mid_write >= 1
    assert any(v is not None for v in outcomes)
    # One surviving file also loads as a whole model.
    last_target = next(tmp_path / f"trial{i}" / "big.keras" for i in reversed(range(KILL_TRIALS))
                       if outcomes[i] is not None)
    loaded = models.load_model(last_target)
    assert loaded.count_params() == checker.count_params()


# -- corrupt, truncated and foreign files ---------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    model = trained_model("sequential")
    model.save(folder / "m.keras")
    model.save_weights(folder / "m.weights.npz")
    with zipfile.ZipFile(folder / "m.keras") as z:
        members = {name: z.read(name) for name in z.namelist()}
    return {"model": model, "keras": (folder / "m.keras").read_bytes(),
            "weights": (folder / "m.weights.npz").read_bytes(), "members": members}


def _zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _with_member(saved, name, data):
    return _zip_bytes(dict(saved["members"], **{name: data}))


def _metadata(saved, **changes):
    metadata = json.loads(saved["members"]["metadata.json"])
    metadata.update(changes)
    return _with_member(saved, "metadata.json", json.dumps(metadata))


def _keras_like_zip():
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "sequential", "layers": []}, "registered_name": None}
    return _zip_bytes({"metadata.json": json.dumps({"keras_version": "3.16.0",
                                                    "date_saved": "2026-01-01@00:00:00"}),
                       "config.json": json.dumps(config),
                       "model.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(64)})


MODEL_FILE_CASES = {
    "empty": lambda s: b"",
    "random_1": lambda s: np.random.default_rng(1).bytes(1),
    "random_100": lambda s: np.random.default_rng(2).bytes(100),
    "random_5000": lambda s: np.random.default_rng(3).bytes(5000),
    "random_with_zip_magic": lambda s: b"PK\x03\x04" + np.random.default_rng(4).bytes(3000),
    "empty_zip": lambda s: _zip_bytes({}),
    "zip_without_weights": lambda s: _zip_bytes(
        {k: v for k, v in s["members"].items() if k != "weights.npz"}),
    "zip_without_metadata": lambda s: _zip_bytes(
        {k: v for k, v in s["members"].items() if k != "metadata.json"}),
    "zip_without_config": lambda s: _zip_bytes(
        {k: v for k, v in s["members"].items() if k != "config.json"}),
    "keras_like_zip": lambda s: _keras_like_zip(),
    "keras_metadata_with_our_members": lambda s: _with_member(
        s, "metadata.json", json.dumps({"keras_version": "3.16.0"})),
    "other_format": lambda s: _metadata(s, format="keras.model"),
    "newer_format_version": lambda s: _metadata(s, format_version=2),
    "much_newer_format_version": lambda s: _metadata(s, format_version=1000),
    "format_version_string": lambda s: _metadata(s, format_version="2"),
    "format_version_null": lambda s: _metadata(s, format_version=None),
    "format_version_list": lambda s: _metadata(s, format_version=[1]),
    "metadata_not_json": lambda s: _with_member(s, "metadata.json", b"{not json"),
    "metadata_not_utf8": lambda s: _with_member(s, "metadata.json", b"\xff\xfe\x00"),
    "metadata_a_list": lambda s: _with_member(s, "metadata.json", "[1, 2]"),
    "config_not_json": lambda s: _with_member(s, "config.json", b"]]"),
    "config_a_list": lambda s: _with_member(s, "config.json", "[]"),
    "config_a_string": lambda s: _with_member(s, "config.json", '"Sequential"'),
    "config_unknown_class": lambda s: _with_member(s, "config.json", json.dumps(
        dict(json.loads(s["members"]["config.json"]), class_name="Functional"))),
    "config_without_config": lambda s: _with_member(s, "config.json", json.dumps(
        {"class_name": "Sequential"})),
    "weights_random_bytes": lambda s: _with_member(
        s, "weights.npz", np.random.default_rng(5).bytes(700)),
    "weights_empty": lambda s: _with_member(s, "weights.npz", b""),
    "weights_a_npy": lambda s: _with_member(s, "weights.npz", _npy_bytes(np.zeros(3))),
    "weights_object_array": lambda s: _with_member(s, "weights.npz", _npz_bytes(
        weight_0000=np.array([None, 1], dtype=object))),
    "weights_wrong_shapes": lambda s: _with_member(s, "weights.npz", _npz_bytes(
        weight_0000=np.zeros((2, 2), np.float32))),
    "weights_truncated": lambda s: _with_member(
        s, "weights.npz", s["members"]["weights.npz"][:-40]),
}


# load_weights reads no architecture: the config cases only concern load_model.
CORRUPT_MODEL_CASES = [(case, loader) for case in sorted(MODEL_FILE_CASES)
                       for loader in ("load_model", "load_weights")
                       if not (loader == "load_weights" and case.startswith("config_"))]


@pytest.mark.parametrize("case, loader", CORRUPT_MODEL_CASES)
def test_corrupt_model_file_raises_value_error(tmp_path, saved, case, loader):
    path = tmp_path / "bad.keras"
    path.write_bytes(MODEL_FILE_CASES[case](saved))
    _expect_clean_value_error(path, loader, saved["model"])


def _expect_clean_value_error(path, loader, model):
    """Loading `path` raises ValueError naming the file, and leaves `model` untouched."""
    before = model.get_weights()
    with pytest.raises(ValueError) as info:
        if loader == "load_model":
            models.load_model(path)
        else:
            model.load_weights(path)
    assert path.name in str(info.value)
    for u, v in zip(before, model.get_weights()):
        np.testing.assert_array_equal(u, v)


def _cut_offsets(size):
    return sorted({0, 1, 4, 10, 30, 100, size // 3, size // 2, size - 100, size - 23, size - 1})


@pytest.mark.parametrize("loader", ["load_model", "load_weights"])
def test_truncated_model_file(tmp_path, saved, loader):
    data = saved["keras"]
    for cut in _cut_offsets(len(data)):
        path = tmp_path / f"cut{cut}.keras"
        path.write_bytes(data[:cut])
        _expect_clean_value_error(path, loader, saved["model"])


@pytest.mark.parametrize("what", ["keras", "weights"])
def test_flipped_bytes_raise_value_error_or_load_unchanged(tmp_path, saved, what):
    """A damaged byte is either detected (ValueError) or harmless (a field that does not
    change the content, such as a timestamp): never another exception, never other
    weights."""
    data = saved[what]
    model = saved["model"]
    target = trained_model("sequential", seed=9, epochs=0)
    offsets = range(30, len(data), max(1, len(data) // 40))
    failures = []
    for offset in offsets:
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        path = tmp_path / (f"flip{offset}.keras" if what == "keras"
                           else f"flip{offset}.weights.npz")
        path.write_bytes(bytes(damaged))
        try:
            target.load_weights(path)
        except ValueError as exc:
            assert path.name in str(exc)
            continue
        except Exception as exc:  # any other type is a failure, collected for the report
            failures.append(f"offset {offset}: {type(exc).__name__}: {exc}")
            continue
        for u, v in zip(model.get_weights(), target.get_weights()):
            if not np.array_equal(u, v):
                failures.append(f"offset {offset}: loaded different weights")
                break
    assert not failures, "\n".join(failures)


WEIGHTS_FILE_CASES = {
    "empty": lambda s: b"",
    "random_1": lambda s: np.random.default_rng(1).bytes(1),
    "random_5000": lambda s: np.random.default_rng(3).bytes(5000),
    "foreign_npz": lambda s: _npz_bytes(a=np.zeros(3), b=np.ones((2, 2))),
    "foreign_npz_with_weight_names": lambda s: _npz_bytes(
        **{k: v for k, v in np.load(io.BytesIO(s["weights"])).items()
           if k != "__gru_py_format__"}),
    "other_format_tag": lambda s: _npz_bytes(__gru_py_format__=np.array("gru_py.model")),
    "npy_file": lambda s: _npy_bytes(np.zeros((3, 4), np.float32)),
    "pickle": lambda s: b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94."
                         b"\x00\x00\x00\x00",
    "object_array": lambda s: _npz_bytes(__gru_py_format__=np.array("gru_py.weights"),
                                         weight_0000=np.array([None], dtype=object)),
    "model_archive_renamed": lambda s: s["keras"],
    "ours_but_no_weights": lambda s: _npz_bytes(__gru_py_format__=np.array("gru_py.weights")),
}


@pytest.mark.parametrize("case", sorted(WEIGHTS_FILE_CASES))
def test_corrupt_weights_file_raises_value_error(tmp_path, saved, case):
    path = tmp_path / "bad.weights.npz"
    path.write_bytes(WEIGHTS_FILE_CASES[case](saved))
    _expect_clean_value_error(path, "load_weights", saved["model"])


def test_truncated_weights_file(tmp_path, saved):
    data = saved["weights"]
    for cut in _cut_offsets(len(data)):
        path = tmp_path / f"cut{cut}.weights.npz"
        path.write_bytes(data[:cut])
        _expect_clean_value_error(path, "load_weights", saved["model"])


@pytest.mark.parametrize("call", ["load_model", "load_weights_keras", "load_weights_npz"])
def test_missing_file(tmp_path, saved, call):
    with pytest.raises(FileNotFoundError, match="missing"):
        if call == "load_model":
            models.load_model(tmp_path / "missing.keras")
        elif call == "load_weights_keras":
            saved["model"].load_weights(tmp_path / "missing.keras")
        else:
            saved["model"].load_weights(tmp_path / "missing.weights.npz")


def test_loading_keras_zip_says_it_is_not_ours(tmp_path):
    path = tmp_path / "keras_model.keras"
    path.write_bytes(_keras_like_zip())
    with pytest.raises(ValueError, match="not a gru_py model file"):
        models.load_model(path)


def test_newer_format_version_message(tmp_path, saved):
    path = tmp_path / "future.keras"
    path.write_bytes(_metadata(saved, format_version=2))
    with pytest.raises(ValueError, match="newer"):
        models.load_model(path)


# -- get_config / from_config / clone_model ----------------------------------------------------


def _functional_with_state():
    """Input -> GRU(return_state) whose state seeds a second GRU; Add, Reshape, Flatten,
    Activation, Dropout, Embedding-free."""
    seq = gru_py.Input(shape=(T, F))
    seq2 = gru_py.Input(shape=(T, F))
    out1, state = layers.GRU(4, return_sequences=True, return_state=True)(seq)
    out2 = layers.GRU(4, return_sequences=True)(seq2, initial_state=state)
    added = layers.Add()([out1, out2])
    dropped = layers.Dropout(0.3, seed=2)(added)
    flat = layers.Flatten()(dropped)
    reshaped = layers.Reshape((T, -1))(flat)
    stacked = layers.RNN([layers.GRUCell(3), layers.GRUCell(2)], go_backwards=True)(reshaped)
    out = layers.Activation("tanh")(layers.Dense(2)(stacked))
    return gru_py.Model([seq, seq2], out)


def _embedding_sequential():
    return gru_py.Sequential([
        gru_py.Input(shape=(T,), dtype="int32"),
        layers.Embedding(20, 4),
        layers.GRU(3, go_backwards=True, reset_after=False),
        layers.Dense(2, activation="sigmoid"),
    ])


def _declared_shape_sequential():
    return gru_py.Sequential([layers.GRU(3, input_shape=(None, F)), layers.Dense(2)])


def _branching_functional():
    """One tensor feeding two layers, and Add of a tensor with itself."""
    seq = gru_py.Input(shape=(T, F))
    h = layers.GRU(4, return_sequences=True)(seq)
    left = layers.GRU(3)(h)
    right = layers.GRU(3, go_backwards=True)(h)
    both = layers.Concatenate()([left, right, layers.Add()([left, left])])
    return gru_py.Model(seq, layers.Dense(2, activation="softmax")(both))


CONFIG_MODELS = {
    "branching_functional": _branching_functional,
    "sequential": make_sequential,
    "functional": make_functional,
    "functional_with_state": _functional_with_state,
    "embedding_sequential": _embedding_sequential,
    "declared_shape_sequential": _declared_shape_sequential,
}


def _config_inputs(kind, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "embedding_sequential":
        return rng.integers(0, 20, size=(5, T))
    x = rng.normal(size=(5, T, F)).astype(np.float32)
    if kind == "functional":
        return [x, rng.normal(size=(5, 2)).astype(np.float32)]
    if kind == "functional_with_state":
        return [x, rng.normal(size=(5, T, F)).astype(np.float32)]
    return x


def _without_names(config):
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list):
        return [_without_names(v) for v in config]
    return config


def _randomize(model, seed):
    """Non-zero random values in every weight (biases start at zero)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-0.5, 0.5, size=w.shape) for w in model.weights])


@pytest.mark.parametrize("kind", sorted(CONFIG_MODELS))
def test_get_config_from_config_round_trip(kind):
    set_random_seed(0)
    model = CONFIG_MODELS[kind]()
    config = model.get_config()
    as_json = json.loads(json.dumps(config))  # JSON-compatible
    rebuilt = type(model).from_config(as_json)
    assert type(rebuilt) is type(model)
    assert json.loads(json.dumps(rebuilt.get_config())) == as_json
    assert rebuilt.count_params() == model.count_params()
    assert [type(layer) for layer in rebuilt.layers] == [type(layer) for layer in model.layers]
    # Same architecture: with the same weights it computes the same function.
    _randomize(model, 1)
    rebuilt.set_weights(model.get_weights())
    x = _config_inputs(kind)
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("kind", sorted(CONFIG_MODELS))
def test_clone_model_same_architecture_fresh_weights(kind):
    set_random_seed(0)
    model = CONFIG_MODELS[kind]()
    _randomize(model, 2)
    clone = models.clone_model(model)
    assert type(clone) is type(model)
    assert clone is not model
    assert _without_names(clone.get_config()) == _without_names(model.get_config())
    assert clone.count_params() == model.count_params()
    # Fresh weights: new arrays, none equal to the original's.
    assert len(clone.weights) == len(model.weights)
    for w_clone, w_model in zip(clone.weights, model.weights):
        assert w_clone is not w_model
        assert w_clone.shape == w_model.shape
        assert not np.array_equal(w_clone, w_model)
    # No layer object is shared.
    assert not {id(layer) for layer in clone.layers} & {id(layer) for layer in model.layers}
    # Changing the clone does not touch the original.
    before = model.get_weights()
    clone.set_weights([w + 1 for w in clone.get_weights()])
    for u, v in zip(before, model.get_weights()):
        np.testing.assert_array_equal(u, v)
    # Same computation once given the same weights.
    clone.set_weights(model.get_weights())
    x = _config_inputs(kind)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("kind", sorted(CONFIG_MODELS))
def test_save_load_round_trip_for_every_architecture(tmp_path, kind):
    set_random_seed(0)
    model = CONFIG_MODELS[kind]()
    _randomize(model, 3)
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    assert json.loads(json.dumps(loaded.get_config())) == json.loads(
        json.dumps(model.get_config()))
    _assert_same_weights(model, loaded)
    x = _config_inputs(kind)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_clone_compiled_model_is_not_compiled():
    model = trained_model("sequential")
    clone = models.clone_model(model)
    assert not clone.compiled  # Keras' clone_model copies architecture only
