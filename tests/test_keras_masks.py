"""Masked recurrent layers against Keras' own numbers.

tests/data/keras_mask_reference.npz holds what Keras 3 (TensorFlow backend) computes for
GRU, LSTM and SimpleRNN with a mask holding right-padded, left-padded, fully masked and
holed rows, from non-zero initial states, forwards and backwards in time, with and
without zero_output_for_mask: outputs, last states, the last output of a layer without
return_sequences, and the gradients of sum(outputs * cotangent). The script that made it
is tests/data/make_keras_mask_reference.py.
"""

import itertools
from pathlib import Path

import numpy as np
import pytest

from gru_py import layers

DATA = np.load(Path(__file__).parent / "data" / "keras_mask_reference.npz")
CASES = [f"{kind}/gb{gb}/zo{zo}"
         for kind, gb, zo in itertools.product(("GRU", "LSTM", "SimpleRNN"), (0, 1), (0, 1))]
FORWARD_ATOL = 1e-6
GRADIENT_RTOL = 1e-5  # relative to each gradient's largest entry


def _case(name):
    kind, gb, zo = name.split("/")
    weights = [DATA[f"{name}/w{i}"] for i in range(int(DATA[f"{name}/weights"]))]
    states = [DATA[f"{name}/state{i}"] for i in range(2 if kind == "LSTM" else 1)]
    return getattr(layers, kind), gb == "gb1", zo == "zo1", weights, states


def _layer(cls, go_backwards, weights, **kwargs):
    layer = cls(weights[1].shape[0], go_backwards=go_backwards, **kwargs)
    layer.build(DATA["x"].shape)
    layer.set_weights(weights)
    return layer


def _assert_gradient(got, want, what):
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=GRADIENT_RTOL * scale, err_msg=what)


@pytest.mark.parametrize("name", CASES)
def test_masked_layer_matches_keras(name):
    cls, go_backwards, zero_output, weights, states = _case(name)
    layer = _layer(cls, go_backwards, weights, return_sequences=True, return_state=True)
    layer.zero_output_for_mask = zero_output
    x, mask = DATA["x"], DATA["mask"]
    out, *last = layer(x, mask=mask, initial_state=states, training=True)
    np.testing.assert_allclose(out, DATA[f"{name}/outputs"], rtol=0, atol=FORWARD_ATOL)
    for i, state in enumerate(last):
        np.testing.assert_allclose(state, DATA[f"{name}/last{i}"], rtol=0, atol=FORWARD_ATOL)

    layer.zero_gradients()
    d_x, d_states = layer.backward(DATA[f"{name}/cotangent"])
    _assert_gradient(d_x, DATA[f"{name}/d_x"], "d_x")
    for i, d_state in enumerate(d_states):
        _assert_gradient(d_state, DATA[f"{name}/d_state{i}"], f"d_state{i}")
    for i, grad in enumerate(layer.gradients):
        _assert_gradient(grad, DATA[f"{name}/d_w{i}"], f"d_w{i}")


@pytest.mark.parametrize("name", [c for c in CASES if c.endswith("zo0")])
def test_masked_last_output_matches_keras(name):
    """Without return_sequences a fully masked row has no last output: zeros, while its
    state stays the initial state."""
    cls, go_backwards, _, weights, states = _case(name)
    layer = _layer(cls, go_backwards, weights)
    out = layer(DATA["x"], mask=DATA["mask"], initial_state=states)
    np.testing.assert_allclose(out, DATA[f"{name}/last_output"], rtol=0, atol=FORWARD_ATOL)
    assert not out[~DATA["mask"].any(axis=1)].any()
