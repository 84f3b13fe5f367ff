"""PyTorch CPU peer: nn.GRU / nn.LSTM / nn.GRUCell, autograd and torch.optim.Adam;
variable lengths (S2M) through pack_padded_sequence. No S2D: nn.GRU has no recurrent
dropout.

Threads: torch.set_num_threads(2), set_num_interop_threads(1). Inference runs under
torch.inference_mode(). Adam uses lr=1e-3 and eps=1e-7 like Keras, but PyTorch adds eps
after the bias correction (Keras before): the same cost, slightly different updates, so
only gradients (not updated weights) are compared.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import numpy as np  # noqa: E402
import scenarios as sc  # noqa: E402

NAME = "torch"

try:
    import torch  # noqa: E402
    import torch.nn.functional as F  # noqa: E402

    torch.set_num_threads(common.THREADS)
    torch.set_num_interop_threads(1)
    from torch_models import (  # noqa: E402
        S2Net,
        crossentropy,
        gru_grads_keras,
        load_rnn,
        single_rnn,
    )
    _SETUP_ERROR = None
except Exception as exc:
    _SETUP_ERROR = f"torch does not import: {exc!r}"


def info():
    config = torch.__config__.show()
    return {"torch": torch.__version__, "numpy": np.__version__,
            "num_threads": torch.get_num_threads(),
            "num_interop_threads": torch.get_num_interop_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "build": [line.strip() for line in config.splitlines()
                      if "BLAS_INFO" in line or "CPU capability" in line]}


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def forward(ctx, name):
    m = single_rnn(name, sc.layer_weights(ctx.data, name))
    x = t(ctx.data[f"{name}/x"])
    ctx.result["api"] = f"nn.{sc.LAYERS[name]}(batch_first=True) under torch.inference_mode()"

    def run():
        with torch.inference_mode():
            return m(x)[0]

    ctx.check("outputs", run().numpy(), ctx.ref[f"{name}/outputs"])
    ctx.time(run)


def train_step(ctx, name):
    m = single_rnn(name, sc.layer_weights(ctx.data, name))
    x, y = t(ctx.data[f"{name}/x"]), t(ctx.data[f"{name}/y"])
    # Check: outputs and the gradients of sum(outputs * g).
    xr = x.clone().requires_grad_(True)
    out, _ = m(xr)
    ctx.check("outputs", out.detach().numpy(), ctx.ref[f"{name}/outputs"])
    (out * t(ctx.data[f"{name}/g"])).sum().backward()
    grads = dict(zip(("kernel", "recurrent_kernel", "bias"), gru_grads_keras(m)))
    grads["x"] = xr.grad.numpy()
    for key in sc.GRU_GRAD_NAMES:
        ctx.check(f"grad {key}", grads[key], ctx.ref[f"{name}/grad/{key}"], relative=True)
    m.zero_grad(set_to_none=True)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
    ctx.result["api"] = "nn.GRU + F.mse_loss + backward + torch.optim.Adam.step"

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(m(x)[0], y)
        loss.backward()
        opt.step()

    ctx.time(step)


def _s2(ctx, variant="S2"):
    """The S2 net, the batches as (x, lengths or None) pairs, the targets' batches, and
    a predict function over a list of batches."""
    net = S2Net(sc.S2).load_keras(sc.s2_weights(ctx.data))
    B = sc.S2["B"]
    x, y = t(ctx.data[sc.S2_INPUTS[variant]]), t(ctx.data["S2/y"])
    starts = range(0, len(x), B)
    lengths = t(ctx.data["S2M/lengths"]) if variant == "S2M" else None
    xb = [(x[i:i + B], None if lengths is None else lengths[i:i + B]) for i in starts]
    yb = [y[i:i + B] for i in starts]

    def predict(batches):
        with torch.inference_mode():
            return torch.cat([torch.softmax(net(*b), dim=-1) for b in batches]).numpy()

    n = sc.S2_CHECK_SAMPLES
    ctx.check("predict", predict(xb[:n // B]), ctx.ref[f"{variant}/predict"])
    return net, xb, yb, predict


def s2_fit_epoch(ctx, variant):
    net, xb, yb, _ = _s2(ctx, variant)
    loss = crossentropy(net(*xb[0]), yb[0])
    loss.backward()
    ctx.check_s2_training(variant, loss.item(), net.grads_keras())
    net.zero_grad(set_to_none=True)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    ctx.result["api"] = "loop over 64-sample batches (no shuffle): forward" + \
        (" over pack_padded_sequence(lengths, enforce_sorted=False)" if variant == "S2M"
         else "") + ", log_softmax crossentropy, backward, Adam.step"

    def epoch():
        for a, b in zip(xb, yb):
            opt.zero_grad(set_to_none=True)
            crossentropy(net(*a), b).backward()
            opt.step()

    ctx.time(epoch, warmup=max(1, min(ctx.args.warmup, 2)), runs=ctx.args.fit_epochs,
             min_time=0)
    ctx.result["samples_per_s"] = sum(len(b) for b in yb) / ctx.result["median_s"]


def s2_predict(ctx):
    net, xb, yb, predict = _s2(ctx)
    ctx.result["api"] = "S2Net + softmax over 64-sample batches, torch.inference_mode()"
    ctx.time(lambda: predict(xb), warmup=1, min_time=min(ctx.args.min_time, 0.5))
    ctx.result["samples_per_s"] = sum(len(b) for b in yb) / ctx.result["median_s"]


def no_recurrent_dropout(ctx):
    raise common.Unsupported("nn.GRU has no recurrent dropout (its dropout= acts between "
                             "stacked layers only)")


def s3_step_calls(ctx):
    p = sc.S3
    cell = load_rnn(torch.nn.GRUCell(p["I"], p["H"]), *sc.layer_weights(ctx.data, "S3"),
                    suffix="")
    x = ctx.data["S3/x"]
    steps = [t(x[:, i]) for i in range(p["T"])]
    h0 = torch.zeros(p["B"], p["H"])

    def run():
        with torch.inference_mode():
            h = h0
            outs = []
            for xt in steps:
                h = cell(xt, h)
                outs.append(h)
            return outs

    ctx.result["api"] = "nn.GRUCell(x_t, h) called 100 times under torch.inference_mode()"
    ctx.check("outputs", torch.stack(run(), dim=1).numpy(), ctx.ref["S3/outputs"])
    ctx.time(run)


TASKS = {
    "S1.forward": lambda ctx: forward(ctx, "S1"),
    "S1.train_step": lambda ctx: train_step(ctx, "S1"),
    "S1L.forward": lambda ctx: forward(ctx, "S1L"),
    "S2.fit_epoch": lambda ctx: s2_fit_epoch(ctx, "S2"),
    "S2.predict": s2_predict,
    "S2R.fit_epoch": no_recurrent_dropout,
    "S2D.fit_epoch": no_recurrent_dropout,
    "S2M.fit_epoch": lambda ctx: s2_fit_epoch(ctx, "S2M"),
    "S3.forward": lambda ctx: forward(ctx, "S3"),
    "S3.step_calls": s3_step_calls,
    "S3L.forward": lambda ctx: forward(ctx, "S3L"),
    "S4.train_step": lambda ctx: train_step(ctx, "S4"),
}

if __name__ == "__main__":
    common.run_peer(NAME, info, TASKS, _SETUP_ERROR)
