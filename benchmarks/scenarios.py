"""Scenarios S1-S4 of shared/reference/PERFORMANCE.md and their LSTM, dropout and mask
variants: shapes, tasks, FLOP counts, GEMMs, and the shared data and weights (Keras 3
layout, float32, seeded).

A *task* is one timed thing, ``"<scenario>.<kind>"``:

* ``S1.forward``, ``S1.train_step``: one GRU layer, I=H=512, B=32, T=100.
  ``S1L.forward``: the same with an LSTM layer.
* ``S2.fit_epoch``, ``S2.predict``: Input(T=100, F=32) -> GRU(128, return_sequences)
  -> GRU(64) -> Dense(10, softmax), B=64, Adam, categorical crossentropy, N samples.
  ``S2R.fit_epoch``: the same model with recurrent_dropout=0.2 on both GRU layers.
  ``S2D.fit_epoch``: the same model with dropout=0.2 and recurrent_dropout=0.2 on both
  GRU layers. ``S2M.fit_epoch``: the same model after a Masking layer, fed the inputs
  right-padded with zeros to variable lengths.
* ``S3.forward``: B=1, I=H=256, T=100; ``S3.step_calls``: the same 100 steps as 100
  single-step calls from Python, carrying the state. ``S3L.forward``: S3.forward with an
  LSTM layer.
* ``S4.train_step``: I=32, H=64, B=256, T=200.

FLOPs follow PERFORMANCE.md: a GRU forward costs 6H(I+H) per sample and step, the
backward 12H(I+H) (a training step is 3x the forward; the elementwise work and the
optimizer update are not counted); an LSTM forward costs 8H(I+H). Dropout and masks
change no product, so S2R, S2D and S2M count S2's FLOPs. The counts are computed from each
task's list of GEMM shapes, so the OpenBLAS sgemm reference runs exactly the same FLOPs.
"""

import numpy as np

SEED = 20240611

S1 = dict(I=512, H=512, B=32, T=100)
S2 = dict(T=100, F=32, H1=128, H2=64, C=10, B=64)
S3 = dict(I=256, H=256, B=1, T=100)
S4 = dict(I=32, H=64, B=256, T=200)
S1L = dict(S1)
S3L = dict(S3)

# The single-layer scenarios: shapes, and the recurrent layer (Keras class name).
SHAPES = {"S1": S1, "S1L": S1L, "S3": S3, "S3L": S3L, "S4": S4}
LAYERS = {"S1": "GRU", "S1L": "LSTM", "S3": "GRU", "S3L": "LSTM", "S4": "GRU"}

# S2's variants: the GRU layers' extra arguments in S2R and S2D, and the padding of S2M, whose
# rows keep a length drawn uniformly from [S2M_MIN_LENGTH, T] and are zero after it.
DROPOUT_ARGS = {"S2R": dict(recurrent_dropout=0.2),
                "S2D": dict(dropout=0.2, recurrent_dropout=0.2)}
S2M_MIN_LENGTH = S2["T"] // 2
# The data each S2 variant trains on.
S2_INPUTS = {"S2": "S2/x", "S2R": "S2/x", "S2D": "S2/x", "S2M": "S2M/x"}

TASKS = (
    "S1.forward", "S1.train_step", "S1L.forward",
    "S2.fit_epoch", "S2.predict", "S2R.fit_epoch", "S2D.fit_epoch", "S2M.fit_epoch",
    "S3.forward", "S3.step_calls", "S3L.forward",
    "S4.train_step",
)

DESCRIPTIONS = {
    "S1.forward": "GRU I=H=512, B=32, T=100, inference forward (all T outputs)",
    "S1.train_step": "same, one training step: forward + backward + Adam (MSE on outputs)",
    "S1L.forward": "LSTM I=H=512, B=32, T=100, inference forward (all T outputs)",
    "S2.fit_epoch": "GRU(128,seq)->GRU(64)->Dense(10,softmax), B=64, one fit epoch over N",
    "S2.predict": "same model, predict over N samples, batch 64",
    "S2R.fit_epoch": "S2 with recurrent_dropout=0.2 on both GRUs, one fit epoch",
    "S2D.fit_epoch": "S2 with dropout=0.2, recurrent_dropout=0.2 on both GRUs, one fit epoch",
    "S2M.fit_epoch": "S2 after Masking, inputs zero-padded to lengths in [T/2, T], one fit "
                     "epoch",
    "S3.forward": "GRU I=H=256, B=1, T=100, inference forward",
    "S3.step_calls": "same, 100 single-step calls from Python carrying the state",
    "S3L.forward": "LSTM I=H=256, B=1, T=100, inference forward",
    "S4.train_step": "GRU I=32, H=64, B=256, T=200, one training step (MSE on outputs)",
}

# Correctness: a peer's outputs against gru_py's (computed by the parent) must agree to
# ATOL in max absolute difference; gradients (O(10) in size) to ATOL * max(1, max|ref|).
ATOL = 1e-4

# Samples checked for S2 (predictions) and the batch whose gradients are checked.
S2_CHECK_SAMPLES = 128


def scenario_of(task):
    return task.split(".", 1)[0]


SCENARIOS = tuple(dict.fromkeys(scenario_of(t) for t in TASKS))


# -- GEMM shapes and FLOPs ---------------------------------------------------------------

# Gate blocks per recurrent layer: the columns of its kernels are GATES x H.
GATES = {"GRU": 3, "LSTM": 4}


def rnn_forward_gemms(I, H, B, T, layer="GRU"):
    """(M, K, N, count): the input projection over all steps, then one h·U per step."""
    G = GATES[layer]
    return [(T * B, I, G * H, 1), (B, H, G * H, T)]


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
        g = rnn_forward_gemms(**S1)
        return g if task == "S1.forward" else g + gru_backward_gemms(**S1)
    if task in ("S1L.forward", "S3.forward", "S3L.forward"):
        name = scenario_of(task)
        return rnn_forward_gemms(**SHAPES[name], layer=LAYERS[name])
    if task == "S3.step_calls":
        # 100 calls of one step each: the input product is per call too.
        I, H, T = S3["I"], S3["H"], S3["T"]
        return [(1, I, 3 * H, T), (1, H, 3 * H, T)]
    if task == "S4.train_step":
        return rnn_forward_gemms(**S4) + gru_backward_gemms(**S4)
    if task in ("S2.fit_epoch", "S2.predict", "S2R.fit_epoch", "S2D.fit_epoch",
                "S2M.fit_epoch"):
        p = S2
        B = p["B"]
        batches = s2_samples // B
        fwd = (rnn_forward_gemms(p["F"], p["H1"], B, p["T"])
               + rnn_forward_gemms(p["H1"], p["H2"], B, p["T"])
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
    """The GEMM lists reproduce PERFORMANCE.md's 6H(I+H)/12H(I+H) per sample and step
    (8H(I+H) for an LSTM forward)."""
    def fwd(I, H, B, T, gates=3):
        return 2 * gates * H * (I + H) * B * T
    assert task_flops("S1.forward", 0) == fwd(**S1)
    assert task_flops("S1L.forward", 0) == fwd(**S1L, gates=4)
    assert task_flops("S3L.forward", 0) == fwd(**S3L, gates=4)
    assert task_flops("S1.train_step", 0) == 3 * fwd(**S1)
    assert task_flops("S3.forward", 0) == fwd(**S3)
    assert task_flops("S3.step_calls", 0) == fwd(**S3)
    assert task_flops("S4.train_step", 0) == 3 * fwd(**S4)
    p = S2
    per_sample = (fwd(p["F"], p["H1"], 1, p["T"]) + fwd(p["H1"], p["H2"], 1, p["T"])
                  + 2 * p["H2"] * p["C"])
    assert task_flops("S2.predict", 2048) == 2048 * per_sample
    for task in ("S2.fit_epoch", "S2R.fit_epoch", "S2D.fit_epoch", "S2M.fit_epoch"):
        assert task_flops(task, 2048) == 3 * 2048 * per_sample


_check_flop_formulas()


# -- data and weights -----------------------------------------------------------------------

def _rnn_weights(rng, I, H, layer):
    """Keras layout: kernel (I, GH), recurrent_kernel (H, GH) with G gate blocks, columns
    [z | r | h] (GRU) or [i | f | c | o] (LSTM); bias (2, 3H) for a GRU (input and
    recurrent rows, reset_after=True), (4H,) for an LSTM. Uniform(-1/sqrt(H), 1/sqrt(H))
    like PyTorch's init, biases non-zero so that the layout mappings are exercised."""
    s = 1.0 / np.sqrt(H)
    G = GATES[layer] * H
    k = rng.uniform(-s, s, (I, G)).astype(np.float32)
    rk = rng.uniform(-s, s, (H, G)).astype(np.float32)
    b = rng.uniform(-s, s, (2, G) if layer == "GRU" else (G,)).astype(np.float32)
    return k, rk, b


def _single_layer_data(d, rng, name):
    """A single-layer scenario's inputs and weights; for the trained ones also a target
    and a cotangent for the gradient check (grads of sum(outputs * g))."""
    p = SHAPES[name]
    I, H, B, T = p["I"], p["H"], p["B"], p["T"]
    d[f"{name}/x"] = rng.standard_normal((B, T, I)).astype(np.float32)
    d[f"{name}/kernel"], d[f"{name}/recurrent_kernel"], d[f"{name}/bias"] = \
        _rnn_weights(rng, I, H, LAYERS[name])
    if f"{name}.train_step" in TASKS:
        d[f"{name}/y"] = rng.standard_normal((B, T, H)).astype(np.float32) * 0.5
        d[f"{name}/g"] = rng.standard_normal((B, T, H)).astype(np.float32)


def make_data(s2_samples, seed=SEED):
    """All inputs, targets, cotangents and weights (float32), and S2M's lengths, as a
    flat dict of arrays."""
    rng = np.random.default_rng(seed)
    d = {}
    for name in ("S1", "S3", "S4"):
        _single_layer_data(d, rng, name)
    p = S2
    d["S2/x"] = rng.standard_normal((s2_samples, p["T"], p["F"])).astype(np.float32)
    labels = rng.integers(0, p["C"], s2_samples)
    d["S2/y"] = np.eye(p["C"], dtype=np.float32)[labels]
    d["S2/gru1/kernel"], d["S2/gru1/recurrent_kernel"], d["S2/gru1/bias"] = \
        _rnn_weights(rng, p["F"], p["H1"], "GRU")
    d["S2/gru2/kernel"], d["S2/gru2/recurrent_kernel"], d["S2/gru2/bias"] = \
        _rnn_weights(rng, p["H1"], p["H2"], "GRU")
    s = 1.0 / np.sqrt(p["H2"])
    d["S2/dense/kernel"] = rng.uniform(-s, s, (p["H2"], p["C"])).astype(np.float32)
    d["S2/dense/bias"] = rng.uniform(-s, s, (p["C"],)).astype(np.float32)
    # Drawn after S1-S4's data, which therefore stays what it was before these variants.
    for name in ("S1L", "S3L"):
        _single_layer_data(d, rng, name)
    lengths = rng.integers(S2M_MIN_LENGTH, p["T"] + 1, s2_samples)
    d["S2M/lengths"] = lengths
    d["S2M/x"] = d["S2/x"] * (np.arange(p["T"]) < lengths[:, None])[:, :, None]
    return d


def layer_weights(d, prefix):
    return [d[f"{prefix}/kernel"], d[f"{prefix}/recurrent_kernel"], d[f"{prefix}/bias"]]


def s2_weights(d):
    """Keras get_weights() order of the S2 model (and of its variants)."""
    return (layer_weights(d, "S2/gru1") + layer_weights(d, "S2/gru2")
            + [d["S2/dense/kernel"], d["S2/dense/bias"]])


S2_WEIGHT_NAMES = ("gru1.kernel", "gru1.recurrent_kernel", "gru1.bias",
                   "gru2.kernel", "gru2.recurrent_kernel", "gru2.bias",
                   "dense.kernel", "dense.bias")
GRU_GRAD_NAMES = ("x", "kernel", "recurrent_kernel", "bias")


def make_reference(d, tasks):
    """gru_py's outputs and gradients on the shared data, checked against by every peer,
    for the scenarios of ``tasks``.

    Computed once by the parent (through gru_py.ops and the model API). S2R and S2D have
    their predictions only (inference mode, where dropout draws no masks): its training loss
    and gradients depend on random masks, which no two libraries draw alike, so its check
    compares its loss with S2's instead."""
    import gru_py
    from gru_py import ops

    wanted = {scenario_of(t) for t in tasks}
    if wanted & set(DROPOUT_ARGS):
        wanted.add("S2")
    forward = {"GRU": ops.gru_forward, "LSTM": ops.lstm_forward}
    ref = {}
    for name, layer in LAYERS.items():
        if name not in wanted:
            continue
        trained = f"{name}.train_step" in TASKS
        out = forward[layer](d[f"{name}/x"], *layer_weights(d, name), training=trained,
                             return_sequences=True)
        ref[f"{name}/outputs"] = out.outputs
        if trained:
            g = ops.rnn_backward(out.cache, d_outputs=d[f"{name}/g"])
            for key in GRU_GRAD_NAMES:
                ref[f"{name}/grad/{key}"] = getattr(g, key)
    n, B = S2_CHECK_SAMPLES, S2["B"]
    for variant, inputs in S2_INPUTS.items():
        if variant not in wanted:
            continue
        model = build_s2(gru_py, variant)
        model.set_weights(s2_weights(d))
        x = d[inputs]
        ref[f"{variant}/predict"] = model.predict(x[:n], batch_size=B, verbose=0)
        if variant in DROPOUT_ARGS:
            continue
        loss, grads = model.compute_loss_and_gradients(x[:B], d["S2/y"][:B])
        ref[f"{variant}/loss"] = np.float32(loss)
        for key, g in zip(S2_WEIGHT_NAMES, grads):
            ref[f"{variant}/grad/{key}"] = g
    return ref


def build_s2(keras_like, variant="S2"):
    """The S2 model (or its variant S2R, S2D or S2M), compiled; ``keras_like`` is gru_py or
    keras (the same code runs in both)."""
    p = S2
    rnn_args = DROPOUT_ARGS.get(variant, {})
    masking = [keras_like.layers.Masking(mask_value=0.0)] if variant == "S2M" else []
    model = keras_like.Sequential([
        keras_like.Input(shape=(p["T"], p["F"])),
        *masking,
        keras_like.layers.GRU(p["H1"], return_sequences=True, **rnn_args),
        keras_like.layers.GRU(p["H2"], **rnn_args),
        keras_like.layers.Dense(p["C"], activation="softmax"),
    ])
    model.compile(optimizer=keras_like.optimizers.Adam(learning_rate=1e-3),
                  loss="categorical_crossentropy")
    return model


def build_single_rnn(keras_like, name):
    """Sequential([Input(T, I), GRU or LSTM(H, return_sequences=True)]) with Adam + MSE,
    for a single-layer scenario."""
    p = SHAPES[name]
    model = keras_like.Sequential([
        keras_like.Input(shape=(p["T"], p["I"])),
        getattr(keras_like.layers, LAYERS[name])(p["H"], return_sequences=True),
    ])
    model.compile(optimizer=keras_like.optimizers.Adam(learning_rate=1e-3), loss="mse")
    return model
