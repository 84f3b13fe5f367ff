"""gru_py peer: the Keras-level API (Sequential, predict_on_batch, train_on_batch, fit,
predict, GRUCell) on the shared weights; also the OpenBLAS sgemm reference, timed
through ``gru_py.ops.dense_forward`` (linear, no bias: exactly one sgemm in gru_py's own
OpenBLAS) on each task's GEMM shapes, and tracemalloc peaks.

Threads: OPENBLAS_NUM_THREADS=2, set by run.py (the default here too).
"""

import os
import sys
import tracemalloc

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import numpy as np  # noqa: E402
import scenarios as sc  # noqa: E402

NAME = "gru_py"

try:
    import gru_py  # noqa: E402
    from gru_py import ops  # noqa: E402
    _SETUP_ERROR = None
except Exception as exc:  # reported in the table, not raised
    _SETUP_ERROR = f"gru_py does not import: {exc!r}"


def info():
    return {"gru_py": gru_py.__version__, "gru_py_file": gru_py.__file__,
            "numpy": np.__version__, "blas_info": gru_py.blas_info(),
            "python": sys.version.split()[0]}


# -- the sgemm reference ----------------------------------------------------------------------


def _best_call_time(fn, min_time=0.2, min_runs=10, max_runs=5000):
    """The fastest of many calls: the reference is a ceiling, and on a shared machine
    noise only ever adds time."""
    return float(np.min(common.time_calls(fn, 3, min_runs, min_time, max_runs)))


def _gemm_time(cache, m, k, n):
    key = ("sgemm", m, k, n)
    if key not in cache:
        rng = np.random.default_rng(m * 7 + k * 13 + n)
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        cache[key] = _best_call_time(lambda: ops.dense_forward(a, b, None, "linear"))
    return cache[key]


def _call_overhead(cache):
    """dense_forward's Python + binding cost, from a 1x1x1 product."""
    if "overhead" not in cache:
        a = np.ones((1, 1), np.float32)
        cache["overhead"] = _best_call_time(lambda: ops.dense_forward(a, a, None, "linear"),
                                            min_runs=200)
    return cache["overhead"]


def sgemm_reference(ctx, task):
    """Time of the task's GEMMs as single sgemm calls (net of the Python call cost), and
    the rate it implies."""
    gemms = sc.task_gemms(task, ctx.s2_samples)
    flops = sc.gemm_flops(gemms)
    overhead = _call_overhead(ctx.cache)
    raw = net = 0.0
    shapes = []
    for m, k, n, count in gemms:
        t = _gemm_time(ctx.cache, m, k, n)
        t_net = max(t - overhead, 0.1 * t)
        raw += count * t
        net += count * t_net
        shapes.append({"m": m, "k": k, "n": n, "count": count, "best_call_s": t,
                       "gflops_net": 2 * m * k * n / t_net / 1e9})
    ctx.result["sgemm"] = {"flops": flops, "time_s": net, "time_raw_s": raw,
                           "gflops": flops / net / 1e9, "gflops_raw": flops / raw / 1e9,
                           "call_overhead_s": overhead, "shapes": shapes}


def traced_peak(ctx, fn):
    """tracemalloc peak of one call (NumPy arrays are traced; the C core's own
    buffers come from NumPy too where the binding allocates them)."""
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    ctx.result["tracemalloc_peak_mb"] = peak / 2**20


# -- tasks --------------------------------------------------------------------------------

def _single_rnn(ctx, name):
    model = sc.build_single_rnn(gru_py, name)
    model.set_weights(sc.layer_weights(ctx.data, name))
    return model


def forward(ctx, name, task):
    model = _single_rnn(ctx, name)
    x = ctx.data[f"{name}/x"]
    ctx.result["api"] = f"Sequential([Input, {sc.LAYERS[name]}(return_sequences=True)])" \
                        ".predict_on_batch"
    ctx.check("outputs", model.predict_on_batch(x), ctx.ref[f"{name}/outputs"])
    ctx.time(lambda: model.predict_on_batch(x))
    traced_peak(ctx, lambda: model.predict_on_batch(x))
    sgemm_reference(ctx, task)


def train_step(ctx, name, task):
    model = _single_rnn(ctx, name)
    x, y = ctx.data[f"{name}/x"], ctx.data[f"{name}/y"]
    ctx.result["api"] = "Sequential([Input, GRU(return_sequences=True)]), Adam, mse: " \
                        "train_on_batch"
    # gru_py is the reference: check the layer's VJP through the model's layer against
    # ops (same core), which catches a model-level wiring difference.
    layer = model.layers[0]
    out = ops.gru_forward(x, *layer.get_weights(), training=True)
    g = ops.rnn_backward(out.cache, d_outputs=ctx.data[f"{name}/g"])
    ctx.check("outputs", model.predict_on_batch(x), ctx.ref[f"{name}/outputs"])
    for key in sc.GRU_GRAD_NAMES:
        ctx.check(f"grad {key}", getattr(g, key), ctx.ref[f"{name}/grad/{key}"], relative=True)
    ctx.time(lambda: model.train_on_batch(x, y))
    traced_peak(ctx, lambda: model.train_on_batch(x, y))
    sgemm_reference(ctx, task)


def s2_model(ctx, variant="S2"):
    model = sc.build_s2(gru_py, variant)
    model.set_weights(sc.s2_weights(ctx.data))
    return model


def s2_fit_epoch(ctx, variant):
    model = s2_model(ctx, variant)
    x, y = ctx.data[sc.S2_INPUTS[variant]], ctx.data["S2/y"]
    B = sc.S2["B"]
    n = sc.S2_CHECK_SAMPLES
    ctx.check("predict", model.predict(x[:n], batch_size=B, verbose=0),
              ctx.ref[f"{variant}/predict"])
    ctx.check_s2_training(variant, *model.compute_loss_and_gradients(x[:B], y[:B]))
    ctx._refuse_if_failed()

    common.time_fit_epochs(ctx, model, x, y, B, gru_py.callbacks.Callback)
    traced_peak(ctx, lambda: model.fit(x, y, batch_size=B, epochs=1, shuffle=False,
                                       verbose=0))
    sgemm_reference(ctx, f"{variant}.fit_epoch")


def s2_predict(ctx):
    model = s2_model(ctx)
    x = ctx.data["S2/x"]
    B = sc.S2["B"]
    n = sc.S2_CHECK_SAMPLES
    ctx.result["api"] = "Sequential.predict(batch_size=64, verbose=0)"
    ctx.check("predict", model.predict(x[:n], batch_size=B, verbose=0), ctx.ref["S2/predict"])
    ctx.time(lambda: model.predict(x, batch_size=B, verbose=0),
             warmup=1, min_time=min(ctx.args.min_time, 0.5))
    ctx.result["samples_per_s"] = len(x) / ctx.result["median_s"]
    traced_peak(ctx, lambda: model.predict(x, batch_size=B, verbose=0))
    sgemm_reference(ctx, "S2.predict")


def s3_step_calls(ctx):
    p = sc.S3
    cell = gru_py.layers.GRUCell(p["H"])
    cell.build((p["B"], p["I"]))
    cell.set_weights(sc.layer_weights(ctx.data, "S3"))
    x = ctx.data["S3/x"]
    steps = [np.ascontiguousarray(x[:, t]) for t in range(p["T"])]
    h0 = np.zeros((p["B"], p["H"]), np.float32)

    def run():
        h = h0
        outs = []
        for xt in steps:
            h, _ = cell(xt, [h])
            outs.append(h)
        return outs

    ctx.result["api"] = "GRUCell(256)(x_t, [h]) called 100 times"
    ctx.check("outputs", np.stack(run(), axis=1), ctx.ref["S3/outputs"])
    ctx.time(run)
    traced_peak(ctx, run)
    sgemm_reference(ctx, "S3.step_calls")


TASKS = {
    "S1.forward": lambda ctx: forward(ctx, "S1", "S1.forward"),
    "S1.train_step": lambda ctx: train_step(ctx, "S1", "S1.train_step"),
    "S1L.forward": lambda ctx: forward(ctx, "S1L", "S1L.forward"),
    "S2.fit_epoch": lambda ctx: s2_fit_epoch(ctx, "S2"),
    "S2.predict": s2_predict,
    "S2R.fit_epoch": lambda ctx: s2_fit_epoch(ctx, "S2R"),
    "S2D.fit_epoch": lambda ctx: s2_fit_epoch(ctx, "S2D"),
    "S2M.fit_epoch": lambda ctx: s2_fit_epoch(ctx, "S2M"),
    "S3.forward": lambda ctx: forward(ctx, "S3", "S3.forward"),
    "S3.step_calls": s3_step_calls,
    "S3L.forward": lambda ctx: forward(ctx, "S3L", "S3L.forward"),
    "S4.train_step": lambda ctx: train_step(ctx, "S4", "S4.train_step"),
}

if __name__ == "__main__":
    common.run_peer(NAME, info, TASKS, _SETUP_ERROR)
