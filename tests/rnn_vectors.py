"""The PyTorch known-answer vectors of tests/data/rnn_torch_vectors.npz, case by case.

Written by tests/data/make_torch_vectors_rnn.py (its docstring lists the keys); read by
the reference's self-tests and by the op tests, with the arguments that a forward of
the case's kind takes.
"""

from pathlib import Path

import numpy as np

PATH = Path(__file__).resolve().parent / "data" / "rnn_torch_vectors.npz"
with np.load(PATH, allow_pickle=False) as _data:
    _ARRAYS = {key: _data[key] for key in _data.files}
NAMES = sorted({key.split("/")[0] for key in _ARRAYS if "/" in key})


def case(name):
    """One case and how to run it.

    Returns:
        ``(kind, arrays, initial_state, options)``: kind "gru", "lstm" or "simple_rnn";
        the case's arrays by key ("x", "kernel", ..., "d_x", ...); the initial state
        argument (None where torch ran from zeros, a pair (h0, c0) for an LSTM); and the
        keyword options of the forward (go_backwards, the SimpleRNN's activation, and for
        masked cases the mask with zero_output_for_mask=True, which is what torch's
        zero-padded outputs are).
    """
    arrays = {key.split("/", 1)[1]: a for key, a in _ARRAYS.items()
              if key.startswith(name + "/")}
    kind = arrays["kind"].item()
    initial_state = None
    if arrays["use_initial_state"].item():
        initial_state = (arrays["h0"], arrays["c0"]) if kind == "lstm" else arrays["h0"]
    options = {"go_backwards": bool(arrays["go_backwards"].item())}
    if kind == "simple_rnn":
        options["activation"] = arrays["activation"].item()
    if "mask" in arrays:
        options.update(mask=arrays["mask"], zero_output_for_mask=True)
    return kind, arrays, initial_state, options
