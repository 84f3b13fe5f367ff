"""Merge layers: Concatenate and Add, which take a list of inputs.

Their output masks follow Keras 3: Add keeps a step used by any input (None as soon as
one input has no mask); Concatenate joins the masks along its axis, an input without a
mask counting as all used.
"""

import numpy as np

from gru_py.layers.base import Layer


class _Merge(Layer):
    """Base of layers called on a list of at least two arrays."""

    def _check_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(
                f"{type(self).__name__} must be called on a list of at least 2 inputs, got "
                f"{type(inputs).__name__}")
        return [np.asarray(x, dtype=np.float32) for x in inputs]

    def _check_masks(self, inputs, mask):
        """Checks that mask is a list with one entry per input."""
        if not isinstance(mask, (list, tuple)) or not isinstance(inputs, (list, tuple)) \
                or len(mask) != len(inputs):
            raise ValueError(
                f"{type(self).__name__}: inputs and mask must be lists of the same length "
                f"(one mask or None per input), got {type(inputs).__name__} inputs and mask "
                f"{mask!r}")

    def compute_mask(self, inputs, mask=None):
        """The logical OR of the inputs' masks, or None if any input has none."""
        if mask is None:
            return None
        self._check_masks(inputs, mask)
        if any(m is None for m in mask):
            return None
        merged = np.asarray(mask[0], dtype=bool)
        for m in mask[1:]:
            merged = merged | np.asarray(m, dtype=bool)
        return merged

    def build(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(
                f"{type(self).__name__} must be called on a list of at least 2 inputs, got "
                f"shape {input_shape!r}")
        self.built = True


class Concatenate(_Merge):
    """Joins inputs along ``axis`` (default the last)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self._sizes = None

    def compute_output_shape(self, input_shape):
        shapes = [list(s) for s in input_shape]
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(f"Concatenate: inputs must have the same rank, got shapes "
                             f"{[tuple(s) for s in shapes]}")
        axis = self.axis % len(shapes[0])
        for dim in range(len(shapes[0])):
            known = {s[dim] for s in shapes if s[dim] is not None}
            if dim != axis and len(known) > 1:
                raise ValueError(
                    f"Concatenate: inputs must match except on axis {self.axis}, got shapes "
                    f"{[tuple(s) for s in shapes]}")
        out = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def call(self, inputs, training=False):
        arrays = self._check_inputs(inputs)
        try:
            out = np.concatenate(arrays, axis=self.axis)
        except ValueError as exc:
            raise ValueError(
                f"Concatenate: inputs must match except on axis {self.axis}, got shapes "
                f"{[a.shape for a in arrays]}") from exc
        self._sizes = [a.shape[self.axis] for a in arrays]
        return out

    def compute_mask(self, inputs, mask=None):
        """The inputs' masks (an unmasked input counts as all True), each broadcast over
        the trailing axis of its input, joined along ``axis`` and reduced by ``any``
        over the last axis: (B, T1 + T2) for inputs (B, T1, F) and (B, T2, F) joined on
        time, the OR of the masks for inputs joined on features."""
        if mask is None:
            return None
        self._check_masks(inputs, mask)
        if all(m is None for m in mask):
            return None
        full = []
        for x, m in zip(inputs, mask):
            shape = np.shape(x)
            if m is None:
                full.append(np.ones(shape, dtype=bool))
                continue
            m = np.asarray(m, dtype=bool)
            try:
                full.append(np.broadcast_to(m[..., None] if m.ndim < len(shape) else m, shape))
            except ValueError:
                raise ValueError(
                    f"Concatenate: a mask must have its input's shape without the last axis, "
                    f"got mask shape {m.shape} for input shape {shape}") from None
        return np.concatenate(full, axis=self.axis).any(axis=-1)

    def backward(self, d_output):
        cuts = np.cumsum(self._sizes)[:-1]
        return np.split(d_output, cuts, axis=self.axis)

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis)
        return config


class Add(_Merge):
    """Sums inputs of the same shape."""

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if len({len(s) for s in shapes}) != 1 or any(
                len({s[d] for s in shapes if s[d] is not None}) > 1 for d in range(len(shapes[0]))):
            raise ValueError(f"Add: inputs must have the same shape, got {shapes}")
        # Where one input knows a size the others leave open, the output knows it too.
        return tuple(next((s[d] for s in shapes if s[d] is not None), None)
                     for d in range(len(shapes[0])))

    def call(self, inputs, training=False):
        arrays = self._check_inputs(inputs)
        if any(a.shape != arrays[0].shape for a in arrays):
            raise ValueError(
                f"Add: inputs must have the same shape, got {[a.shape for a in arrays]}")
        self._count = len(arrays)
        return np.sum(arrays, axis=0, dtype=np.float32)

    def backward(self, d_output):
        return [d_output] * self._count
