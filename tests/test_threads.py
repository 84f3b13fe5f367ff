"""gru_py's thread count: the public setter/getter, OPENBLAS_NUM_THREADS, threadpoolctl,
and the same numbers whatever the count."""

import multiprocessing
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import threadpoolctl

import gru_py
from gru_py import ops


@pytest.fixture
def restore_threads():
    before = gru_py.get_num_threads()
    yield
    gru_py.set_num_threads(before)


def test_set_and_get_num_threads(restore_threads):
    gru_py.set_num_threads(1)
    assert gru_py.get_num_threads() == 1 == gru_py.blas_info()["num_threads"]
    gru_py.set_num_threads(2)
    assert gru_py.get_num_threads() == 2


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2000, ValueError),
                                        (1.5, TypeError), (True, TypeError), ("2", TypeError)])
def test_set_num_threads_rejects_bad_values(bad, error, restore_threads):
    with pytest.raises(error, match="num_threads"):
        gru_py.set_num_threads(bad)


def test_openblas_num_threads_sets_the_start_value(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", "import gru_py; print(gru_py.get_num_threads())"],
        cwd=tmp_path, capture_output=True, text=True, check=True, timeout=120,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert out.stdout.strip() == "1"


def test_threadpoolctl_sees_and_limits_gru_pys_openblas(restore_threads):
    gru_py.set_num_threads(2)
    package = os.path.dirname(os.path.realpath(gru_py.__file__))
    ours = [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "openblas"
            and os.path.realpath(i["filepath"]).startswith(package + os.sep)]
    assert len(ours) == 1, threadpoolctl.threadpool_info()
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert gru_py.get_num_threads() == 1
    assert gru_py.get_num_threads() == 2


@pytest.mark.parametrize("reset_after", [True, False])
def test_results_do_not_depend_on_the_thread_count(reset_after, restore_threads):
    """The batch is split between threads row by row: the same numbers up to rounding."""
    rng = np.random.default_rng(5)
    B, T, I, H = 16, 40, 12, 48
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    kernel = (rng.standard_normal((I, 3 * H)) * 0.2).astype(np.float32)
    recurrent = (rng.standard_normal((H, 3 * H)) * 0.2).astype(np.float32)
    bias = (rng.standard_normal((2, 3 * H) if reset_after else (3 * H,)) * 0.1).astype(np.float32)
    d_out = rng.standard_normal((B, T, H)).astype(np.float32)
    results = []
    for threads in (1, 2):
        gru_py.set_num_threads(threads)
        out = ops.gru_forward(x, kernel, recurrent, bias, reset_after=reset_after)
        grads = ops.rnn_backward(out.cache, d_out)
        results.append([out.outputs, out.last_state, grads.x, grads.initial_state,
                        grads.recurrent_kernel])
    # Each row's recurrence is the same arithmetic whichever thread runs it, but OpenBLAS
    # picks its GEMM kernel by matrix size (a 16-row and an 8-row product may round
    # differently), and the weight gradients sum B*T rows split differently on two
    # threads: so equal to float32 rounding, relative to each array's scale.
    for one, two in zip(*results):
        np.testing.assert_allclose(two, one, rtol=0, atol=1e-5 * np.abs(one).max())


@pytest.mark.parametrize("kind", ["gru", "lstm", "simple_rnn"])
@pytest.mark.parametrize("training", [True, False])
def test_a_single_sequence_split_by_units_gives_the_same_numbers(kind, training,
                                                                 restore_threads):
    """One sequence cannot be split by rows: two threads share each step's products (by
    columns) and updates (by units). Big enough to be split; H is odd so the parts are
    uneven; a mask skips steps; go_backwards reads time reversed."""
    rng = np.random.default_rng(9)
    T, I, H = 30, 20, 273
    gates = {"gru": 3, "lstm": 4, "simple_rnn": 1}[kind]
    forward = {"gru": ops.gru_forward, "lstm": ops.lstm_forward,
               "simple_rnn": ops.simple_rnn_forward}[kind]
    x = rng.standard_normal((1, T, I)).astype(np.float32)
    kernel = (rng.standard_normal((I, gates * H)) * 0.2).astype(np.float32)
    recurrent = (rng.standard_normal((H, gates * H)) * 0.1).astype(np.float32)
    bias = (rng.standard_normal((2, 3 * H) if kind == "gru" else (gates * H,)) * 0.1).astype(
        np.float32)
    mask = rng.random((1, T)) > 0.3
    d_out = rng.standard_normal((1, T, H)).astype(np.float32)
    results = []
    for threads in (1, 2):
        gru_py.set_num_threads(threads)
        out = forward(x, kernel, recurrent, bias, mask=mask, go_backwards=True,
                      training=training)
        arrays = [out.outputs, out.last_state]
        if training:
            grads = ops.rnn_backward(out.cache, d_out)
            arrays += [grads.x, grads.recurrent_kernel]
        results.append(arrays)
    for one, two in zip(*results):
        np.testing.assert_allclose(two, one, rtol=0, atol=1e-5 * np.abs(one).max())


@pytest.mark.parametrize("kind", ["gru", "lstm", "simple_rnn"])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("extras", ["none", "mask", "dropout"])
def test_a_single_step_on_two_threads_gives_the_same_bits(kind, training, extras,
                                                          restore_threads):
    """A single step of one sequence (a cell called from Python) runs its input
    projection and its recurrent product side by side, each the product one thread runs:
    the same bits, with a mask that skips the step or with dropout masks too."""
    rng = np.random.default_rng(13)
    I, H = 200, 256
    gates = {"gru": 3, "lstm": 4, "simple_rnn": 1}[kind]
    forward = {"gru": ops.gru_forward, "lstm": ops.lstm_forward,
               "simple_rnn": ops.simple_rnn_forward}[kind]
    x = rng.standard_normal((1, 1, I)).astype(np.float32)
    kernel = (rng.standard_normal((I, gates * H)) * 0.1).astype(np.float32)
    recurrent = (rng.standard_normal((H, gates * H)) * 0.1).astype(np.float32)
    bias = (rng.standard_normal((2, 3 * H) if kind == "gru" else (gates * H,)) * 0.1).astype(
        np.float32)
    state = rng.standard_normal((1, H)).astype(np.float32)
    initial = [state, -state] if kind == "lstm" else state
    options = {"mask": np.zeros((1, 1), bool)} if extras == "mask" else {}
    if extras == "dropout":
        options = {"dropout_mask": (rng.random((gates, 1, I)) > 0.2) / np.float32(0.8),
                   "recurrent_dropout_mask": (rng.random((gates, 1, H)) > 0.2) / np.float32(0.8)}
    results = []
    for threads in (1, 2):
        gru_py.set_num_threads(threads)
        out = forward(x, kernel, recurrent, bias, initial, training=training, **options)
        results.append((out.outputs, out.last_state, out.last_carry))
    for one, two in zip(*results):
        assert (one is None and two is None) or np.array_equal(one, two)


def _split_call_arrays(seed):
    """A batch big enough that a call is split between two jobs (csrc/parallel.c)."""
    rng = np.random.default_rng(seed)
    B, T, I, H = 16, 40, 12, 128
    return (rng.standard_normal((B, T, I)).astype(np.float32),
            (rng.standard_normal((I, 3 * H)) * 0.2).astype(np.float32),
            (rng.standard_normal((H, 3 * H)) * 0.1).astype(np.float32),
            (rng.standard_normal((2, 3 * H)) * 0.1).astype(np.float32))


def _split_call(arrays):
    out = ops.gru_forward(*arrays)
    return out.outputs, ops.rnn_backward(out.cache, out.outputs).kernel


def _child_split_call(arrays, expected, queue):
    got = _split_call(arrays)
    queue.put(all(np.array_equal(g, w) for g, w in zip(got, expected)))


@pytest.mark.parametrize("during_a_call", [False, True], ids=["idle", "during_a_call"])
def test_a_forked_child_makes_split_calls(during_a_call, restore_threads):
    """A child forked after the parent's calls started worker threads has none of them,
    nor the call they were busy with when it was forked during one (and maybe a lock held
    by one): its own split calls must still run and agree."""
    gru_py.set_num_threads(2)
    arrays = _split_call_arrays(43)
    expected = _split_call(arrays)  # the parent's workers now exist
    busy = None
    if during_a_call:
        # a forward of about 0.1 s in another thread, which releases the GIL inside it
        rng = np.random.default_rng(44)
        long_call = (rng.standard_normal((32, 2000, 64)).astype(np.float32),
                     (rng.standard_normal((64, 768)) * 0.1).astype(np.float32),
                     (rng.standard_normal((256, 768)) * 0.1).astype(np.float32))
        busy = threading.Thread(target=ops.gru_forward, args=long_call,
                                kwargs={"training": False})
        busy.start()
        time.sleep(0.02)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_split_call, args=(arrays, expected, queue))
    child.start()
    if busy is not None:
        busy.join()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child's call never returned")
    assert child.exitcode == 0
    assert queue.get(timeout=10) is True
