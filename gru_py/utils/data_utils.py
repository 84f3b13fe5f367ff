"""Keras' data helpers: set_random_seed, to_categorical, pad_sequences."""

import random

import numpy as np

from gru_py import _random


def set_random_seed(seed):
    """Seeds Python's, NumPy's and gru_py's random generators (initializers, dropout,
    shuffling), so that one seed with the same thread count gives the same training."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _random.set_seed(int(seed))


def to_categorical(x, num_classes=None):
    """One-hot rows for integer class labels: (...,) -> (..., num_classes) float32.

    A trailing axis of size 1 is dropped first, as Keras does.
    """
    labels = np.asarray(x)
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or (labels != np.round(labels)).any():
            raise ValueError("to_categorical: x must hold integer class labels")
    elif labels.dtype.kind not in "iub":
        raise TypeError(f"to_categorical: x must hold integer class labels, got {labels.dtype}")
    labels = labels.astype(np.int64)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {labels.min()}")
    top = int(labels.max()) + 1 if labels.size else 0
    if num_classes is None:
        num_classes = top
    elif num_classes < top:
        raise ValueError(f"to_categorical: num_classes={num_classes} but a label is {top - 1}")
    out = np.zeros(labels.shape + (int(num_classes),), dtype=np.float32)
    np.put_along_axis(out, labels[..., None], 1.0, axis=-1)
    return out


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pads (or truncates) a list of sequences to one length, Keras' way.

    Args:
        sequences: a list of sequences (lists or arrays; items may be vectors).
        maxlen: the length; None means the longest sequence.
        dtype: the output dtype.
        padding, truncating: "pre" (the default: at the start) or "post".
        value: the padding value.

    Returns:
        An array (len(sequences), maxlen, ...).
    """
    for arg, v in (("padding", padding), ("truncating", truncating)):
        if v not in ("pre", "post"):
            raise ValueError(f'{arg} must be "pre" or "post", got {v!r}')
    try:
        seqs = [np.asarray(s) for s in sequences]
    except TypeError:
        raise ValueError("pad_sequences: sequences must be a list of sequences") from None
    if maxlen is None:
        maxlen = max((len(s) for s in seqs), default=0)
    elif maxlen < 0:
        raise ValueError(f"maxlen must be >= 0, got {maxlen}")
    item_shape = next((s.shape[1:] for s in seqs if len(s)), ())
    out = np.full((len(seqs), maxlen) + item_shape, value, dtype=dtype)
    for i, s in enumerate(seqs):
        if not len(s) or not maxlen:
            continue
        if s.shape[1:] != item_shape:
            raise ValueError(
                f"pad_sequences: sequence {i} has items of shape {s.shape[1:]}, expected "
                f"{item_shape}")
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out
