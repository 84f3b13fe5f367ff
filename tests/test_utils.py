"""gru_py.utils: set_random_seed, to_categorical, pad_sequences, checked against their
Keras definitions."""

import numpy as np
import pytest

import gru_py
from gru_py.utils import pad_sequences, set_random_seed, to_categorical


def _train_once(seed):
    set_random_seed(seed)
    model = gru_py.Sequential([gru_py.layers.GRU(4, input_shape=(5, 3)),
                               gru_py.layers.Dropout(0.3), gru_py.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 5, 3)), rng.standard_normal((40, 1))
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return model.get_weights(), history.history["loss"]


def test_set_random_seed_makes_training_bitwise_reproducible():
    weights_a, loss_a = _train_once(7)
    weights_b, loss_b = _train_once(7)
    assert loss_a == loss_b
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)
    weights_c, _ = _train_once(8)
    assert any(not np.array_equal(a, c) for a, c in zip(weights_a, weights_c))


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_set_random_seed_rejects_non_integers(seed):
    with pytest.raises(ValueError, match="seed"):
        set_random_seed(seed)


def test_to_categorical_matches_one_hot_definition():
    labels = np.array([0, 2, 1, 2])
    out = to_categorical(labels)
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[labels])
    np.testing.assert_array_equal(to_categorical(labels[:, None], num_classes=5),
                                  np.eye(5, dtype=np.float32)[labels])
    np.testing.assert_array_equal(to_categorical(np.array([[1, 0], [2, 1]])).shape, (2, 2, 3))
    np.testing.assert_array_equal(to_categorical([1.0, 0.0]), [[0, 1], [1, 0]])


@pytest.mark.parametrize("labels, num_classes, error", [
    ([0, -1], None, ValueError), ([0, 3], 2, ValueError), ([0.5], None, ValueError),
    (["a"], None, TypeError)])
def test_to_categorical_rejects_bad_labels(labels, num_classes, error):
    with pytest.raises(error, match="to_categorical"):
        to_categorical(labels, num_classes=num_classes)


def test_pad_sequences_pre_and_post():
    seqs = [[1, 2, 3], [4], [5, 6]]
    np.testing.assert_array_equal(pad_sequences(seqs), [[1, 2, 3], [0, 0, 4], [0, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, padding="post"),
                                  [[1, 2, 3], [4, 0, 0], [5, 6, 0]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2), [[2, 3], [0, 4], [5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2, truncating="post"),
                                  [[1, 2], [0, 4], [5, 6]])
    out = pad_sequences(seqs, value=-1.0, dtype="float32")
    assert out.dtype == np.float32 and out[1, 0] == -1.0


def test_pad_sequences_keeps_vector_items():
    seqs = [np.ones((2, 3)), np.zeros((1, 3))]
    out = pad_sequences(seqs, dtype="float32")
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[1, 0], 0.0)


@pytest.mark.parametrize("kwargs", [{"padding": "mid"}, {"truncating": "x"}, {"maxlen": -1}])
def test_pad_sequences_rejects_bad_options(kwargs):
    with pytest.raises(ValueError):
        pad_sequences([[1, 2]], **kwargs)
