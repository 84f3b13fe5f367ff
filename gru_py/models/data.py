"""Input handling for fit, evaluate and predict: arrays in, checked batches out.

Keras accepts NumPy arrays, lists of arrays (several inputs) and dicts keyed by input
name; every array's first axis is the sample axis. These helpers convert, check lengths
and slice, with errors that name the argument.
"""

import numpy as np


def as_input_list(x, input_names, argument="x"):
    """x as a list of arrays, one per model input.

    Args:
        x: an array, a list/tuple of arrays, or a dict {input name: array}.
        input_names: the model's input names, in order (empty when not known yet, as
            for a Sequential model that is not built).
        argument: the argument's name, for errors.
    """
    if x is None:
        raise ValueError(f"{argument} must be given, got None")
    if isinstance(x, dict):
        missing = [n for n in input_names if n not in x]
        if missing:
            raise ValueError(f"{argument} is missing inputs {missing}; got keys {sorted(x)}")
        x = [x[n] for n in input_names]
    elif isinstance(x, (list, tuple)) and len(input_names) > 1:
        x = list(x)
    else:
        x = [x]
    arrays = []
    for i, value in enumerate(x):
        arr = np.asarray(value)
        name = argument if len(x) == 1 else f"{argument}[{i}]"
        if arr.dtype == object or arr.dtype.kind not in "fiub":
            raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
        if arr.ndim == 0:
            raise ValueError(f"{name} must have a sample axis, got a scalar")
        if arr.shape[0] == 0:
            raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
        arrays.append(arr)
    if input_names and len(arrays) != len(input_names):
        raise ValueError(
            f"{argument}: the model has {len(input_names)} inputs {list(input_names)}, got "
            f"{len(arrays)} arrays")
    return arrays


def as_target(y, argument="y"):
    """y as an array with a sample axis (None stays None)."""
    if y is None:
        return None
    if isinstance(y, (list, tuple)) and y and hasattr(y[0], "shape") and np.ndim(y[0]) > 0:
        raise NotImplementedError(f"{argument}: models with several outputs cannot be trained yet")
    arr = np.asarray(y)
    if arr.dtype == object or arr.dtype.kind not in "fiub":
        raise TypeError(f"{argument} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{argument} must have a sample axis, got a scalar")
    return arr


def check_same_length(named_arrays):
    """Raises ValueError unless every array (None skipped) has the same sample count."""
    lengths = {name: len(a) for name, a in named_arrays if a is not None}
    if len(set(lengths.values())) > 1:
        details = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        raise ValueError(f"x, y and sample_weight must have the same number of samples, got "
                         f"{details}")
    return next(iter(lengths.values()))


def take(arrays, index):
    """Rows `index` (a slice or an index array) of every array (None stays None)."""
    return [None if a is None else a[index] for a in arrays]


def batch_indices(count, batch_size, shuffle, rng):
    """The batches of one epoch: slices in order, or index arrays of a permutation.

    Args:
        count: number of samples.
        batch_size: samples per batch; the last batch keeps the remainder (Keras).
        shuffle: True (a full permutation), False, or "batch" (batch order only).
        rng: a numpy Generator.
    """
    starts = range(0, count, batch_size)
    if shuffle is True:
        order = rng.permutation(count)
        return [order[s:s + batch_size] for s in starts]
    batches = [slice(s, min(s + batch_size, count)) for s in starts]
    if shuffle == "batch":
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def check_batch_size(batch_size, argument="batch_size"):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"{argument} must be a positive integer or None, got {batch_size!r}")
    return int(batch_size)


def class_weight_to_sample_weight(y, class_weight):
    """Per-sample weights from a {class index: weight} dict, reading the class from
    sparse labels (N,) / (N, 1) or one-hot rows (N, C) as Keras does."""
    if not isinstance(class_weight, dict) or not class_weight:
        raise ValueError(f"class_weight must be a non-empty dict, got {class_weight!r}")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        classes = np.argmax(y, axis=1)
    elif y.ndim <= 2:
        classes = np.round(y.reshape(len(y))).astype(np.int64)
    else:
        raise ValueError(
            f"class_weight needs y of shape (N,), (N, 1) or (N, classes), got {y.shape}")
    weights = np.ones(len(classes), dtype=np.float32)
    for cls, weight in class_weight.items():
        weights[classes == int(cls)] = float(weight)
    return weights


def split_for_validation(arrays, split):
    """(train, validation): the last fraction `split` of the samples, taken before any
    shuffling, becomes validation data (Keras)."""
    if not 0.0 < split < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), got {split!r}")
    count = next(len(a) for a in arrays if a is not None)
    cut = int(count * (1.0 - split))
    if cut == 0 or cut == count:
        raise ValueError(
            f"validation_split={split} leaves an empty training or validation set for "
            f"{count} samples")
    return take(arrays, slice(0, cut)), take(arrays, slice(cut, count))
