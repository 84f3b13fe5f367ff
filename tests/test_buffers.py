"""ops.RNNBuffers: reused memory gives the same numbers, grows as needed, and a cache
overwritten by a later forward is refused rather than silently used."""

import numpy as np
import pytest

from gru_py import ops
from gru_py.layers import GRUCell


def _arrays(seed, B=3, T=5, I=4, H=6):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((B, T, I)).astype(np.float32),
            (rng.standard_normal((I, 3 * H)) * 0.3).astype(np.float32),
            (rng.standard_normal((H, 3 * H)) * 0.3).astype(np.float32),
            (rng.standard_normal((2, 3 * H)) * 0.1).astype(np.float32))


def _run(arrays, buffers, training=True):
    out = ops.gru_forward(*arrays, training=training, buffers=buffers)
    if not training:
        return [out.outputs, out.last_state]
    grads = ops.rnn_backward(out.cache, np.ones_like(out.outputs))
    return [out.outputs, out.last_state, *grads[:4]]


@pytest.mark.parametrize("training", [True, False])
def test_buffers_give_the_same_numbers(training):
    buffers = ops.RNNBuffers()
    # H=32 fills whole vectors: there a training forward streams its cache (aligned
    # buffers) or stores it (the unaligned arrays of a call without buffers)
    for seed, sizes in ((1, {}), (2, {"B": 7, "T": 9}), (3, {"H": 2}), (4, {}),
                        (10, {"B": 8, "T": 6, "H": 32})):
        arrays = _arrays(seed, **sizes)
        for got, want in zip(_run(arrays, buffers, training), _run(arrays, None, training)):
            np.testing.assert_array_equal(got, want, err_msg=f"seed {seed}, sizes {sizes}")


@pytest.mark.parametrize("training", [True, False])
def test_buffers_follow_dropout_at_the_same_shape(training):
    """Input dropout needs a bigger workspace at the same shapes: buffers that remember the
    last call's sizes must notice the change, both ways."""
    buffers = ops.RNNBuffers()
    arrays = _arrays(11)
    mask = (np.random.default_rng(12).random((3, 4)) > 0.3) / np.float32(0.7)
    for dropout_mask in (None, mask, None, mask):
        got, want = (ops.gru_forward(*arrays, training=training, buffers=b,
                                     dropout_mask=dropout_mask) for b in (buffers, None))
        np.testing.assert_array_equal(got.outputs, want.outputs)


def test_a_cell_steps_between_bigger_calls_on_the_same_buffers():
    """A cell's single steps keep their workspace from step to step; a whole-sequence call
    in between that grows the buffers must not disturb the next steps."""
    cell = GRUCell(6)
    cell.build((2, 4))
    x, kernel, recurrent, bias = _arrays(13, B=2, T=40, I=4, H=6)
    cell.set_weights([kernel, recurrent, bias])
    h = np.zeros((2, 6), np.float32)
    for t in range(3):
        if t == 1:
            ops.gru_forward(x, kernel, recurrent, bias, training=False,
                            buffers=cell._buffers)
        want = ops.gru_forward(x[:, t:t + 1], kernel, recurrent, bias, h,
                               training=False).last_state
        h, _ = cell(x[:, t], [h])
        np.testing.assert_array_equal(h, want, err_msg=f"step {t}")


def test_buffers_start_at_page_boundaries():
    buffers = ops.RNNBuffers()
    for size in (1, 17, 1000, 123457):
        view = buffers._take(f"a{size}", size)
        assert view.size == size and view.ctypes.data % 4096 == 0
        assert buffers._take(f"a{size}", size // 2 + 1).ctypes.data == view.ctypes.data


def test_buffers_are_reused_not_reallocated():
    buffers = ops.RNNBuffers()
    _run(_arrays(5, B=6, T=8), buffers)
    kept = {name: array for name, array in buffers._arrays.items()}
    _run(_arrays(6, B=2, T=3), buffers)  # smaller: the same arrays serve
    assert all(buffers._arrays[name] is array for name, array in kept.items())


def test_a_cache_overwritten_by_a_later_forward_is_refused():
    buffers = ops.RNNBuffers()
    first = ops.gru_forward(*_arrays(7), buffers=buffers)
    ops.gru_forward(*_arrays(8), buffers=buffers)
    with pytest.raises(RuntimeError, match="overwritten"):
        ops.rnn_backward(first.cache, np.ones_like(first.outputs))


def test_inference_does_not_invalidate_a_training_cache():
    buffers = ops.RNNBuffers()
    arrays = _arrays(9)
    out = ops.gru_forward(*arrays, buffers=buffers)
    ops.gru_forward(*arrays, training=False, buffers=buffers)
    grads = ops.rnn_backward(out.cache, np.ones_like(out.outputs))
    want = ops.rnn_backward(ops.gru_forward(*arrays).cache, np.ones_like(out.outputs))
    np.testing.assert_array_equal(grads.x, want.x)


def test_buffers_must_be_gru_buffers():
    with pytest.raises(TypeError, match="buffers"):
        ops.gru_forward(*_arrays(10), buffers={})
