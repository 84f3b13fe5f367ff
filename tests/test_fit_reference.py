"""Model.fit against a PyTorch re-implementation of the same training steps.

``tests/data/fit_reference.npz`` (made by ``tests/data/make_fit_reference.py``; torch is
not needed here) holds a small adding-problem data set, initial weights in Keras
layout, and what float64 PyTorch gives when it trains
``GRU(16, return_sequences=True) -> GRU(8) -> Dense(1)`` on them with MSE and Keras 3's
Adam, batch_size 32, no shuffling, 3 epochs: the loss of every batch and the final
weights. N = 112 makes every epoch three batches of 32 and one of 16.

gru_py's ``fit`` logs, as Keras does, the running mean of the batch losses over the
epoch, each batch weighted by its number of samples. The test compares those running
means directly, and also the per-batch losses recovered from them
(``loss_k = (S_k * mean_k - S_{k-1} * mean_{k-1}) / n_k`` with ``S_k`` the samples seen).

Tolerances. gru_py trains in float32 (rounding about 6e-8 relative per operation); the
reference is float64. Over these 12 steps the float32 result is expected to drift by
about 1e-7 from the float64 one: that is what the observed difference is, and what
torch itself gives when it reruns the training in float32 (stored in the .npz as
``*_float32`` and checked below against the same tolerances). So:

* losses (between 0.1 and 1): 1e-5 relative. Recovering a batch loss from two running
  means multiplies the error by at most S_k / n_k = 7, still far below 1e-5;
* weights (magnitudes up to about 1, moved by up to 0.11 in training): within
  1e-5 absolute plus 1e-5 relative, i.e. 1e-5 of the weight scale. That is 100 times
  the float32 drift, and 10 to 1000 times smaller than the deviations that real
  mistakes cause here: 1.5e-4 for a learning rate 0.1% off, 5e-4 for beta_2 = 0.9991,
  1e-2 for PyTorch's placement of epsilon (added to the bias-corrected sqrt(v)).
"""

from pathlib import Path

import numpy as np
import pytest

import gru_py
from gru_py.layers import GRU, Dense

REFERENCE = Path(__file__).resolve().parent / "data" / "fit_reference.npz"
N_WEIGHTS = 8
LOSS_RTOL = 1e-5
WEIGHT_RTOL = 1e-5
WEIGHT_ATOL = 1e-5


@pytest.fixture(scope="module")
def ref():
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


class BatchLossRecorder(gru_py.callbacks.Callback):
    """Records the ``loss`` logged after every training batch, and the epoch number."""

    def __init__(self):
        super().__init__()
        self.losses = []
        self.epochs = []
        self._epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])
        self.epochs.append(self._epoch)


@pytest.fixture(scope="module")
def trained(ref):
    """(model, recorder, history) after fit with the reference's settings."""
    model = gru_py.Sequential([GRU(16, return_sequences=True), GRU(8), Dense(1)])
    model.build((None,) + ref["x"].shape[1:])
    model.set_weights([ref[f"initial/{i}"].copy() for i in range(N_WEIGHTS)])
    model.compile(
        optimizer=gru_py.optimizers.Adam(
            learning_rate=float(ref["learning_rate"]), beta_1=float(ref["beta_1"]),
            beta_2=float(ref["beta_2"]), epsilon=float(ref["epsilon"])),
        loss="mse")
    recorder = BatchLossRecorder()
    history = model.fit(ref["x"], ref["y"], batch_size=int(ref["batch_size"]),
                        epochs=int(ref["epochs"]), shuffle=False, verbose=0,
                        callbacks=[recorder])
    return model, recorder, history


def _steps_per_epoch(ref):
    return -(-len(ref["x"]) // int(ref["batch_size"]))


def _running_means(losses, sizes, steps_per_epoch):
    """Keras' logged loss: per epoch, the sample-weighted running mean of batch losses."""
    out = []
    for start in range(0, len(losses), steps_per_epoch):
        part = slice(start, start + steps_per_epoch)
        out.extend(np.cumsum(losses[part] * sizes[part]) / np.cumsum(sizes[part]))
    return np.array(out)


def _batch_losses(running, sizes, steps_per_epoch):
    """Inverts _running_means: each batch's own loss from consecutive running means."""
    out = []
    for start in range(0, len(running), steps_per_epoch):
        part = slice(start, start + steps_per_epoch)
        totals = running[part] * np.cumsum(sizes[part])
        out.extend(np.diff(totals, prepend=0.0) / sizes[part])
    return np.array(out)


def test_reference_file_matches_the_training_settings(ref):
    """The file describes the run the test repeats: 112 samples in batches of 32."""
    steps = _steps_per_epoch(ref)
    epochs = int(ref["epochs"])
    assert ref["x"].shape == (112, 12, 2) and ref["y"].shape == (112, 1)
    assert ref["x"].dtype == np.float32 and ref["y"].dtype == np.float32
    assert steps == 4 and epochs == 3
    assert ref["batch_loss"].shape == (steps * epochs,)
    np.testing.assert_array_equal(ref["batch_size_per_step"], [32, 32, 32, 16] * epochs)
    # Training must actually do something for the comparison to mean anything.
    assert ref["batch_loss"][-epochs:].mean() < 0.5 * ref["batch_loss"][0]
    moved = max(np.abs(ref[f"final/{i}"] - ref[f"initial/{i}"]).max()
                for i in range(N_WEIGHTS))
    assert moved > 0.05


def test_tolerances_accept_float32_training(ref):
    """torch's own float32 rerun stays within the tolerances used against gru_py, so
    they do not demand more than float32 arithmetic can give."""
    np.testing.assert_allclose(ref["batch_loss_float32"], ref["batch_loss"], rtol=LOSS_RTOL,
                               atol=0)
    for i in range(N_WEIGHTS):
        np.testing.assert_allclose(ref[f"final_float32/{i}"], ref[f"final/{i}"],
                                   rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL)


def test_one_log_per_batch(ref, trained):
    _, recorder, _ = trained
    steps, epochs = _steps_per_epoch(ref), int(ref["epochs"])
    assert recorder.epochs == [e for e in range(epochs) for _ in range(steps)]
    assert all(isinstance(v, float) for v in recorder.losses)


def test_logged_running_loss_matches_reference(ref, trained):
    _, recorder, _ = trained
    want = _running_means(ref["batch_loss"], ref["batch_size_per_step"],
                          _steps_per_epoch(ref))
    np.testing.assert_allclose(recorder.losses, want, rtol=LOSS_RTOL, atol=0)


def test_batch_losses_match_reference(ref, trained):
    _, recorder, _ = trained
    got = _batch_losses(np.array(recorder.losses), ref["batch_size_per_step"],
                        _steps_per_epoch(ref))
    np.testing.assert_allclose(got, ref["batch_loss"], rtol=LOSS_RTOL, atol=0)


def test_history_holds_each_epochs_mean_loss(ref, trained):
    _, recorder, history = trained
    steps = _steps_per_epoch(ref)
    sizes = ref["batch_size_per_step"][:steps]
    want = [np.sum(ref["batch_loss"][e * steps:(e + 1) * steps] * sizes) / sizes.sum()
            for e in range(int(ref["epochs"]))]
    assert list(history.history) == ["loss"]
    np.testing.assert_allclose(history.history["loss"], want, rtol=LOSS_RTOL, atol=0)
    assert history.history["loss"] == recorder.losses[steps - 1::steps]


def test_final_weights_match_reference(ref, trained):
    model, _, _ = trained
    assert model.optimizer.iterations == len(ref["batch_loss"])
    got = model.get_weights()
    assert len(got) == N_WEIGHTS
    for i, w in enumerate(got):
        want = ref[f"final/{i}"]
        assert w.shape == want.shape and w.dtype == np.float32
        np.testing.assert_allclose(w, want, rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL,
                                   err_msg=f"weight {i}")
