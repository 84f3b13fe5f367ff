"""Generate PyTorch known-answer vectors for the GRU (Keras 3 layout).

This script builds a few small ``torch.nn.GRU`` problems, runs the forward
and backward passes in float64, maps every parameter and gradient to the
Keras 3 ``GRU(reset_after=True)`` layout, and writes them all to
``tests/data/gru_torch_vectors.npz``.

Run it from the repository root with a private environment that has
torch==2.13.0 and numpy installed::

    /tmp/torchenv/bin/python tests/data/make_torch_vectors.py

torch is NOT a dependency of the package or of the test suite: the tests only
read the .npz file written here.

Layout of the output: for each case name ``c`` the keys are ``c/x``,
``c/h0``, ``c/kernel``, ``c/recurrent_kernel``, ``c/bias``, ``c/go_backwards``,
``c/d_outputs``, ``c/d_last_state`` (inputs, float32 apart from the int flag)
and ``c/outputs``, ``c/last_state``, ``c/d_x``, ``c/d_h0``, ``c/d_kernel``,
``c/d_recurrent_kernel``, ``c/d_bias`` (float64 results).  Gradients are of
``L = sum(outputs * d_outputs) + sum(last_state * d_last_state)``.  A
top-level ``torch_version`` string records the torch build used.

Weight mapping: torch stores gate blocks in (r, z, n) order, row-major
(3H, in); Keras stores kernels as (in, 3H) with column blocks (z, r, h) and
a (2, 3H) bias whose rows are the input and recurrent biases.  With
go_backwards the sequence is fed reversed and the outputs are stored in
processing order, as Keras returns them; ``x`` and ``d_x`` stay in the
original time order.
"""

import os

import numpy as np
import torch

# name: (B, T, I, H, use_h0, go_backwards, seed)
CASES = {
    "small": (3, 5, 4, 6, True, False, 1),
    "no_h0": (2, 7, 3, 5, False, False, 2),
    "single": (1, 1, 1, 1, True, False, 3),
    "wide": (4, 20, 16, 32, True, False, 4),
    "backwards": (3, 6, 4, 5, True, True, 5),
}

OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "gru_torch_vectors.npz")


def gates_to_keras(w, hidden):
    """Reorder torch (r | z | n) blocks along axis 0 into Keras (z | r | h)."""
    r, z, n = w[:hidden], w[hidden:2 * hidden], w[2 * hidden:]
    return np.concatenate([z, r, n], axis=0)


def weight_to_keras(w, hidden):
    """torch (3H, in) weight -> Keras (in, 3H) kernel."""
    return gates_to_keras(w, hidden).T


def bias_to_keras(b_ih, b_hh, hidden):
    """torch two (3H,) biases -> Keras (2, 3H) bias."""
    return np.stack([gates_to_keras(b_ih, hidden),
                     gates_to_keras(b_hh, hidden)])


def make_case(B, T, I, H, use_h0, go_backwards, seed):
    torch.manual_seed(seed)
    gru = torch.nn.GRU(I, H, num_layers=1, bias=True, batch_first=True)
    rng = np.random.default_rng(seed)

    x32 = rng.standard_normal((B, T, I), dtype=np.float32)
    if use_h0:
        h0_32 = (0.5 * rng.standard_normal((B, H), dtype=np.float32)
                 ).astype(np.float32)
    else:
        h0_32 = np.zeros((B, H), dtype=np.float32)
    d_out32 = rng.standard_normal((B, T, H), dtype=np.float32)
    d_last32 = rng.standard_normal((B, H), dtype=np.float32)

    # Record the float32 parameters before promoting to float64.
    p32 = {k: v.detach().numpy().copy() for k, v in gru.named_parameters()}
    gru = gru.double()

    x = torch.tensor(x32, dtype=torch.float64, requires_grad=True)
    h0 = torch.tensor(h0_32, dtype=torch.float64, requires_grad=True)
    seq = x.flip(1) if go_backwards else x
    outputs, h_n = gru(seq, h0.unsqueeze(0))
    last = h_n[0]

    loss = ((outputs * torch.from_numpy(d_out32).double()).sum()
            + (last * torch.from_numpy(d_last32).double()).sum())
    loss.backward()

    g = {k: v.grad.numpy() for k, v in gru.named_parameters()}
    return {
        "x": x32,
        "h0": h0_32,
        "kernel": weight_to_keras(p32["weight_ih_l0"], H),
        "recurrent_kernel": weight_to_keras(p32["weight_hh_l0"], H),
        "bias": bias_to_keras(p32["bias_ih_l0"], p32["bias_hh_l0"], H),
        "go_backwards": np.array(int(go_backwards)),
        "d_outputs": d_out32,
        "d_last_state": d_last32,
        "outputs": outputs.detach().numpy(),
        "last_state": last.detach().numpy(),
        "d_x": x.grad.numpy(),
        "d_h0": h0.grad.numpy(),
        "d_kernel": weight_to_keras(g["weight_ih_l0"], H),
        "d_recurrent_kernel": weight_to_keras(g["weight_hh_l0"], H),
        "d_bias": bias_to_keras(g["bias_ih_l0"], g["bias_hh_l0"], H),
    }


def save(path, cases):
    """Write {case name: {key: array}} as "name/key" arrays, plus torch_version."""
    arrays = {"torch_version": np.array(torch.__version__)}
    for name, case in cases.items():
        for key, value in case.items():
            arrays[f"{name}/{key}"] = np.ascontiguousarray(value)
    np.savez(path, **arrays)
    print(f"wrote {path} ({len(arrays)} arrays)")


def main():
    torch.use_deterministic_algorithms(True)
    save(OUT_PATH, {name: make_case(*spec) for name, spec in CASES.items()})


if __name__ == "__main__":
    main()
