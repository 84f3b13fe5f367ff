"""Keras 3 on tensorflow-cpu peer: the same Sequential programs as the gru_py peer
(scenarios.build_single_rnn / build_s2), with only the import changed.

Threads: tf.config.threading intra-op 2, inter-op 1 (set before TensorFlow starts).
jit_compile is left at Keras' "auto" (no XLA on a CPU-only machine); the value Keras
chose is recorded per task.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import numpy as np  # noqa: E402
import scenarios as sc  # noqa: E402

NAME = "keras"

try:
    import tensorflow as tf  # noqa: E402

    tf.config.threading.set_intra_op_parallelism_threads(common.THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras  # noqa: E402

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"Keras backend is {keras.backend.backend()!r}, not tensorflow")
    _SETUP_ERROR = None
except Exception as exc:
    _SETUP_ERROR = f"tensorflow-cpu / keras do not import: {exc!r}"


def info():
    return {"tensorflow": tf.__version__, "keras": keras.__version__,
            "backend": keras.backend.backend(), "numpy": np.__version__,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "onednn_opts_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            "devices": [d.name for d in tf.config.list_physical_devices()]}


def _single_rnn(ctx, name):
    model = sc.build_single_rnn(keras, name)
    model.set_weights(sc.layer_weights(ctx.data, name))
    return model


def _jit(ctx, model):
    ctx.result["jit_compile"] = getattr(model, "jit_compile", None)


def forward(ctx, name):
    model = _single_rnn(ctx, name)
    x = ctx.data[f"{name}/x"]
    ctx.result["api"] = f"Sequential([Input, {sc.LAYERS[name]}(return_sequences=True)])" \
                        ".predict_on_batch"
    ctx.check("outputs", model.predict_on_batch(x), ctx.ref[f"{name}/outputs"])
    ctx.time(lambda: model.predict_on_batch(x))
    _jit(ctx, model)


def train_step(ctx, name):
    model = _single_rnn(ctx, name)
    x, y = ctx.data[f"{name}/x"], ctx.data[f"{name}/y"]
    layer = model.layers[0]
    cell = layer.cell
    weights = [cell.kernel, cell.recurrent_kernel, cell.bias]
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = layer(xt, training=True)
        s = tf.reduce_sum(out * tf.constant(ctx.data[f"{name}/g"]))
    grads = tape.gradient(s, [xt] + weights)
    ctx.check("outputs", out.numpy(), ctx.ref[f"{name}/outputs"])
    for key, g in zip(sc.GRU_GRAD_NAMES, grads):
        ctx.check(f"grad {key}", np.asarray(g), ctx.ref[f"{name}/grad/{key}"], relative=True)
    ctx.result["api"] = "Sequential([Input, GRU(return_sequences=True)]), Adam, mse: " \
                        "train_on_batch"
    ctx.time(lambda: model.train_on_batch(x, y))
    _jit(ctx, model)


def _s2(ctx, variant="S2"):
    model = sc.build_s2(keras, variant)
    model.set_weights(sc.s2_weights(ctx.data))
    n = sc.S2_CHECK_SAMPLES
    ctx.check("predict", model.predict(ctx.data[sc.S2_INPUTS[variant]][:n],
                                       batch_size=sc.S2["B"], verbose=0),
              ctx.ref[f"{variant}/predict"])
    return model


def s2_fit_epoch(ctx, variant):
    model = _s2(ctx, variant)
    x, y = ctx.data[sc.S2_INPUTS[variant]], ctx.data["S2/y"]
    B = sc.S2["B"]
    loss_fn = keras.losses.CategoricalCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(y[:B], model(x[:B], training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    ctx.check_s2_training(variant, float(loss), [np.asarray(g) for g in grads])
    ctx._refuse_if_failed()

    common.time_fit_epochs(ctx, model, x, y, B, keras.callbacks.Callback)
    _jit(ctx, model)


def s2_predict(ctx):
    model = _s2(ctx)
    x = ctx.data["S2/x"]
    ctx.result["api"] = "Sequential.predict(batch_size=64, verbose=0)"
    ctx.time(lambda: model.predict(x, batch_size=sc.S2["B"], verbose=0),
             warmup=1, min_time=min(ctx.args.min_time, 0.5))
    ctx.result["samples_per_s"] = len(x) / ctx.result["median_s"]
    _jit(ctx, model)


def s3_step_calls(ctx):
    p = sc.S3
    cell = keras.layers.GRUCell(p["H"])
    cell.build((p["B"], p["I"]))
    cell.set_weights(sc.layer_weights(ctx.data, "S3"))

    @tf.function(reduce_retracing=True)
    def step(xt, h):
        out, _ = cell(xt, [h])
        return out

    x = ctx.data["S3/x"]
    steps = [tf.constant(x[:, i]) for i in range(p["T"])]
    h0 = tf.zeros((p["B"], p["H"]))

    def run():
        h = h0
        outs = []
        for xt in steps:
            h = step(xt, h)
            outs.append(h)
        return outs

    ctx.result["api"] = "GRUCell(256) wrapped in one tf.function, called 100 times " \
                        "carrying h (eager calls are slower)"
    ctx.check("outputs", np.stack([o.numpy() for o in run()], axis=1), ctx.ref["S3/outputs"])
    ctx.time(run)


TASKS = {
    "S1.forward": lambda ctx: forward(ctx, "S1"),
    "S1.train_step": lambda ctx: train_step(ctx, "S1"),
    "S1L.forward": lambda ctx: forward(ctx, "S1L"),
    "S2.fit_epoch": lambda ctx: s2_fit_epoch(ctx, "S2"),
    "S2.predict": s2_predict,
    "S2R.fit_epoch": lambda ctx: s2_fit_epoch(ctx, "S2R"),
    "S2D.fit_epoch": lambda ctx: s2_fit_epoch(ctx, "S2D"),
    "S2M.fit_epoch": lambda ctx: s2_fit_epoch(ctx, "S2M"),
    "S3.forward": lambda ctx: forward(ctx, "S3"),
    "S3.step_calls": s3_step_calls,
    "S3L.forward": lambda ctx: forward(ctx, "S3L"),
    "S4.train_step": lambda ctx: train_step(ctx, "S4"),
}

if __name__ == "__main__":
    common.run_peer(NAME, info, TASKS, _SETUP_ERROR)
