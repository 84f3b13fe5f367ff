"""Recurrent dropout against Keras, on the same masks.

tests/data/keras_dropout_reference.npz holds Keras 3's outputs and TensorFlow's
gradients for GRU (reset_after True and False), LSTM and SimpleRNN in training with
fixed dropout masks: input dropout alone (one mask shared by the gates) and input plus
recurrent dropout (one mask per gate, Keras' implementation 1). The script that made it
is tests/data/make_keras_dropout_reference.py. gru_py gets the same masks through the
ops (dropout_mask=, recurrent_dropout_mask=) and through a layer whose mask draw is
replaced.
"""

from pathlib import Path

import numpy as np
import pytest

from gru_py import layers, ops

DATA = np.load(Path(__file__).parent / "data" / "keras_dropout_reference.npz")
KINDS = {"GRU": ("GRU", {}), "GRU_reset_before": ("GRU", {"reset_after": False}),
         "LSTM": ("LSTM", {}), "SimpleRNN": ("SimpleRNN", {})}
CASES = [f"{name}/{which}" for name in KINDS for which in ("input", "recurrent")]
FORWARD_ATOL = 1e-6
GRADIENT_RTOL = 1e-5  # relative to each gradient's largest entry


def _masks(key):
    recurrent = f"{key}/recurrent_dropout_mask"
    return DATA[f"{key}/dropout_mask"], DATA[recurrent] if recurrent in DATA else None


def _weights(key):
    return [DATA[f"{key}/w{i}"] for i in range(int(DATA[f"{key}/weights"]))]


def _check(key, outputs, last_states, d_x, weight_grads):
    np.testing.assert_allclose(outputs, DATA[f"{key}/outputs"], rtol=0, atol=FORWARD_ATOL)
    for i, state in enumerate(last_states):
        np.testing.assert_allclose(state, DATA[f"{key}/last{i}"], rtol=0, atol=FORWARD_ATOL)
    for got, name in [(d_x, "d_x")] + [(g, f"d_w{i}") for i, g in enumerate(weight_grads)]:
        want = DATA[f"{key}/{name}"]
        np.testing.assert_allclose(got, want, rtol=0,
                                   atol=GRADIENT_RTOL * max(1.0, float(np.abs(want).max())),
                                   err_msg=name)


@pytest.mark.parametrize("key", CASES)
def test_ops_with_keras_dropout_masks_match_keras(key):
    kind, kwargs = KINDS[key.split("/")[0]]
    forward = {"GRU": ops.gru_forward, "LSTM": ops.lstm_forward,
               "SimpleRNN": ops.simple_rnn_forward}[kind]
    dropout_mask, recurrent_mask = _masks(key)
    out = forward(DATA["x"], *_weights(key), dropout_mask=dropout_mask,
                  recurrent_dropout_mask=recurrent_mask, **kwargs)
    grads = ops.rnn_backward(out.cache, DATA[f"{key}/cotangent"])
    last = [out.last_state] + ([out.last_carry] if kind == "LSTM" else [])
    _check(key, out.outputs, last, grads.x, [grads.kernel, grads.recurrent_kernel, grads.bias])


@pytest.mark.parametrize("key", CASES)
def test_layer_in_training_applies_dropout_like_keras(key, monkeypatch):
    """The layer routes its masks to the core as Keras' cell applies them: only the
    draw is replaced."""
    kind, kwargs = KINDS[key.split("/")[0]]
    recurrent = key.endswith("recurrent")
    layer = getattr(layers, kind)(DATA[f"{key}/w1"].shape[0], return_sequences=True,
                                  return_state=True, dropout=0.3,
                                  recurrent_dropout=0.3 if recurrent else 0.0, **kwargs)
    layer.build(DATA["x"].shape)
    layer.set_weights(_weights(key))
    monkeypatch.setattr(layer.cells[0], "_dropout_masks", lambda batch, training: _masks(key))
    out, *last = layer(DATA["x"], training=True)
    layer.zero_gradients()
    d_x, _ = layer.backward(DATA[f"{key}/cotangent"])
    _check(key, out, last, d_x, layer.gradients)
