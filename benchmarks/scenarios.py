"""Scenarios S1-S4 of shared/reference/PERFORMANCE.md: shapes, tasks, FLOP counts, GEMMs,
and the shared data and weights (Keras 3 layout, float32, seeded).

A *task* is one timed thing, ``"<scenario>.<kind>"``:

* ``S1.forward``, ``S1.train_step``: one GRU layer, I=H=512, B=32, T=100.
* ``S2.fit_epoch``, ``S2.predict``: Input(T=100, F=32) -> GRU(128, return_sequences)
  -> GRU(64) -> Dense(10, softmax), B=64, Adam, categorical crossentropy, N samples.
* ``S3.forward``: B=1, I=H=256, T=100; ``S3.step_calls``: the same 100 steps as 100
  single-step calls from Python, carrying the state.
* ``S4.train_step``: I=32, H=64, B=256, T=200.

FLOPs follow PERFORMANCE.md: a GRU forward costs 6H(I+H) per sample and step, the
backward 12H(I+H) (a training step is 3x the forward; the elementwise work and the
optimizer update are not counted). The counts are computed from each task's list of
GEMM shapes, so the OpenBLAS sgemm reference runs exactly the same FLOPs.
"""

import numpy as np

SEED = 20240611

S1 = dict(I=512, H=512, B=32, T=100)
S2 = dict(T=100, F=32, H1=128, H2=64, C=10, B=64)
S3 = dict(I=256, H=256, B=1, T=100)
S4 = dict(I=32, H=64, B=256, T=200)

TASKS = (
    "S1.forward", "S1.train_step",
    "S2.fit_epoch", "S2.predict",
    "S3.forward", "S3.step_calls",
    "S4.train_step",
)

DESCRIPTIONS = {
    "S1.forward": "GRU I=H=512, B=32, T=100, inference forward (all T outputs)",
    "S1.train_step": "same, one training step: forward + backward + Adam (MSE on outputs)",
    "S2.fit_epoch": "GRU(128,seq)->GRU(64)->Dense(10,softmax), B=64, one fit epoch over N",
    "S2.predict": "same model, predict over N samples, batch 64",
    "S3.forward": "GRU I=H=256, B=1, T=100, inference forward",
    "S3.step_calls": "same, 100 single-step calls from Python carrying the state",
    "S4.train_step": "GRU I=32, H=64, B=256, T=200, one training step (MSE on outputs)",
}

# Peers that cannot run a task say why, in the table.
INFERENCE_ONLY = {"S1.train_step", "S2.fit_epoch", "S4.train_step"}

# Correctness: a peer's outputs against gru_py's (computed by the parent) must agree to
# ATOL in max absolute difference; gradients (O(10) in size) to ATOL * max(1, max|ref|).
ATOL = 1e-4

# Samples checked for S2 (predictions) and the batch whose gradients are checked.
S2_CHECK_SAMPLES = 128


def scenario_of(task):
    return task.split(".", 1)[0]


# -- GEMM shapes and FLOPs ---------------------------------------------------------------

def gru_forward_gemms(I, H, B, T):
    """(M, K, N, count): the input projection over all steps, then one h·U per step."""
    return [(T * B, I, 3 * H, 1), (B, H, 3 * H, T)]


def gru_backward_gemms(I, H, B, T):
    """dX = dG·Wᵀ, dW = Xᵀ·dG, dU = Hᵀ·dG_rec over all steps; dh = dG_t·Uᵀ per step."""
    return [(T * B, 3 * H, I, 1), (I, T * B, 3 * H, 1), (H, T * B, 3 * H, 1),
            (B, 3 * H, H, T)]


def dense_forward_gemms(I, O, B):
    return [(B, I, O, 1)]


def dense_backward_gemms(I, O, B):
    return [(B, O, I, 1), (I, B, O, 1)]


def _times(gemms, factor):
    return [(m, k, n, c * factor) for m, k, n, c in gemms]


def task_gemms(task, s2_samples):
    """The GEMM shapes whose FLOPs define the task (and the sgemm reference)."""
    if task in ("S1.forward", "S1.train_step"):
        g = gru_forward_gemms(**S1)
        return g if task == "S1.forward" else g + gru_backward_gemms(**S1)
    if task in ("S3.forward",):
        return gru_forward_gemms(**S3)
    if task == "S3.step_calls":
        # 100 calls of one step each: the input product is per call too.
        I, H, T = S3["I"], S3["H"], S3["T"]
        return [(1, I, 3 * H, T), (1, H, 3 * H, T)]
    if task == "S4.train_step":
        return gru_forward_gemms(**S4) + gru_backward_gemms(**S4)
    if task in ("S2.fit_epoch", "S2.predict"):
        p = S2
        B = p["B"]
        batches = s2_samples // B
        fwd = (gru_forward_gemms(p["F"], p["H1"], B, p["T"])
               + gru_forward_gemms(p["H1"], p["H2"], B, p["T"])
               + dense_forward_gemms(p["H2"], p["C"], B))
        if task == "S2.predict":
            return _times(fwd, batches)
        bwd = (gru_backward_gemms(p["F"], p["H1"], B, p["T"])
               + gru_backward_gemms(p["H1"], p["H2"], B, p["T"])
               + dense_backward_gemms(p["H2"], p["C"], B))
        return _times(fwd + bwd, batches)
    raise KeyError(task)


def gemm_flops(gemms):
    return sum(2 * m * k * n * c for m, k, n, c in gemms)


def task_flops(task, s2_samples):
    return gemm_flops(task_gemms(task, s2_samples))


def _check_flop_formulas():
    """The GEMM lists reproduce PERFORMANCE.md's 6H(I+H)/12H(I+H) per sample and step."""
    def fwd(I, H, B, T):
        return 6 * H * (I + H) * B * T
    assert task_flops("S1.forward", 0) == fwd(**S1)
    assert task_flops("S1.train_step", 0) == 3 * fwd(**S1)
    assert task_flops("S3.forward", 0) == fwd(**S3)
    assert task_flops("S3.step_calls", 0) == fwd(**S3)
    assert task_flops("S4.train_step", 0) == 3 * fwd(**S4)
    p = S2
    per_sample = (fwd(p["F"], p["H1"], 1, p["T"]) + fwd(p["H1"], p["H2"], 1, p["T"])
                  + 2 * p["H2"] * p["C"])
    assert task_flops("S2.predict", 2048) == 2048 * per_sample
    assert task_flops("S2.fit_epoch", 2048) == 3 * 2048 * per_sample


_check_flop_formulas()


# -- data and weights -----------------------------------------------------------------------

def _gru_weights(rng, I, H):
    """Keras layout: kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H); gate columns
    [z | r | h]. Uniform(-1/sqrt(H), 1/sqrt(H)) like PyTorch's init, biases non-zero so
    that the layout mappings are exercised."""
    s = 1.0 / np.sqrt(H)
    k = rng.uniform(-s, s, (I, 3 * H)).astype(np.float32)
    rk = rng.uniform(-s, s, (H, 3 * H)).astype(np.float32)
    b = rng.uniform(-s, s, (2, 3 * H)).astype(np.float32)
    return k, rk, b


def make_data(s2_samples, seed=SEED):
    """All inputs, targets, cotangents and weights, as a flat dict of float32 arrays."""
    rng = np.random.default_rng(seed)
    d = {}
    for name, p in (("S1", S1), ("S3", S3), ("S4", S4)):
        I, H, B, T = p["I"], p["H"], p["B"], p["T"]
        d[f"{name}/x"] = rng.standard_normal((B, T, I)).astype(np.float32)
        d[f"{name}/kernel"], d[f"{name}/recurrent_kernel"], d[f"{name}/bias"] = \
            _gru_weights(rng, I, H)
        if name != "S3":
            d[f"{name}/y"] = rng.standard_normal((B, T, H)).astype(np.float32) * 0.5
            # Cotangent for the gradient check: grads of sum(outputs * g).
            d[f"{name}/g"] = rng.standard_normal((B, T, H)).astype(np.float32)
    p = S2
    d["S2/x"] = rng.standard_normal((s2_samples, p["T"], p["F"])).astype(np.float32)
    labels = rng.integers(0, p["C"], s2_samples)
    d["S2/y"] = np.eye(p["C"], dtype=np.float32)[labels]
    d["S2/gru1/kernel"], d["S2/gru1/recurrent_kernel"], d["S2/gru1/bias"] = \
        _gru_weights(rng, p["F"], p["H1"])
    d["S2/gru2/kernel"], d["S2/gru2/recurrent_kernel"], d["S2/gru2/bias"] = \
        _gru_weights(rng, p["H1"], p["H2"])
    s = 1.0 / np.sqrt(p["H2"])
    d["S2/dense/kernel"] = rng.uniform(-s, s, (p["H2"], p["C"])).astype(np.float32)
    d["S2/dense/bias"] = rng.uniform(-s, s, (p["C"],)).astype(np.float32)
    return d


def gru_weights(d, prefix):
    return [d[f"{prefix}/kernel"], d[f"{prefix}/recurrent_kernel"], d[f"{prefix}/bias"]]


def s2_weights(d):
    """Keras get_weights() order of the S2 model."""
    return (gru_weights(d, "S2/gru1") + gru_weights(d, "S2/gru2")
            + [d["S2/dense/kernel"], d["S2/dense/bias"]])


S2_WEIGHT_NAMES = ("gru1.kernel", "gru1.recurrent_kernel", "gru1.bias",
                   "gru2.kernel", "gru2.recurrent_kernel", "gru2.bias",
                   "dense.kernel", "dense.bias")
GRU_GRAD_NAMES = ("x", "kernel", "recurrent_kernel", "bias")


def make_reference(d):
    """gru_py's outputs and gradients on the shared data, checked against by every peer.

    Computed once by the parent (through gru_py.ops and the model API)."""
    import gru_py
    from gru_py import ops

    ref = {}
    for name in ("S1", "S3", "S4"):
        x = d[f"{name}/x"]
        w = gru_weights(d, name)
        out = ops.gru_forward(x, *w, training=name != "S3", return_sequences=True)
        ref[f"{name}/outputs"] = out.outputs
        if name != "S3":
            g = ops.rnn_backward(out.cache, d_outputs=d[f"{name}/g"])
            for key in GRU_GRAD_NAMES:
                ref[f"{name}/grad/{key}"] = getattr(g, key)
    model = build_s2(gru_py)
    model.set_weights(s2_weights(d))
    n = S2_CHECK_SAMPLES
    ref["S2/predict"] = model.predict(d["S2/x"][:n], batch_size=S2["B"], verbose=0)
    B = S2["B"]
    loss, grads = model.compute_loss_and_gradients(d["S2/x"][:B], d["S2/y"][:B])
    ref["S2/loss"] = np.float32(loss)
    for key, g in zip(S2_WEIGHT_NAMES, grads):
        ref[f"S2/grad/{key}"] = g
    return ref


def build_s2(keras_like):
    """The S2 model, compiled; ``keras_like`` is gru_py or keras (the same code runs in both)."""
    p = S2
    model = keras_like.Sequential([
        keras_like.Input(shape=(p["T"], p["F"])),
        keras_like.layers.GRU(p["H1"], return_sequences=True),
        keras_like.layers.GRU(p["H2"]),
        keras_like.layers.Dense(p["C"], activation="softmax"),
    ])
    model.compile(optimizer=keras_like.optimizers.Adam(learning_rate=1e-3),
                  loss="categorical_crossentropy")
    return model


def build_single_gru(keras_like, p):
    """Sequential([Input(T, I), GRU(H, return_sequences=True)]) with Adam + MSE."""
    model = keras_like.Sequential([
        keras_like.Input(shape=(p["T"], p["I"])),
        keras_like.layers.GRU(p["H"], return_sequences=True),
    ])
    model.compile(optimizer=keras_like.optimizers.Adam(learning_rate=1e-3), loss="mse")
    return model
