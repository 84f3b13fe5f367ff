"""Losses with Keras 3's names, formulas, shape rules and reductions, computed in C.

Each loss function maps ``(y_true, y_pred)`` to a per-sample array: the last axis of
``y_pred`` is reduced, so predictions of shape ``(N, C)`` give ``(N,)`` and temporal
predictions ``(N, T, C)`` give ``(N, T)``. The row math runs in the C core
(``_core.loss_forward`` / ``_core.loss_backward`` on rows ``(R, C)``); this module aligns
shapes, checks inputs, applies sample weights and reduces, as Keras' ``Loss`` does.

A :class:`Loss` instance is called like Keras' (``loss(y_true, y_pred, sample_weight)``
gives a float, or the weighted per-sample array for ``reduction=None``). On top of
Keras, :meth:`Loss.forward_backward` returns the reduced loss together with its gradient
with respect to ``y_pred``: what a training step needs, in one pass through the core.

Keras' behaviour is kept, warts included: ``categorical_crossentropy`` with
``from_logits=False`` divides raw outputs by their sum and clips them to
``[1e-7, 1 - 1e-7]`` (so a ``Dense(10)`` without softmax trains on that, not on a
softmax), and it warns when the class axis has size 1.
"""

import math
import re
import warnings

import numpy as np

from gru_py._config import from_class_config
from gru_py._native import _core

EPSILON = 1e-7  # Keras' backend epsilon, used by the core to clip probabilities

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None, "none")


def _snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


# -- shapes and checks ----------------------------------------------------------------


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras' rank alignment: when the ranks differ by one and the longer array ends in
    a size-1 axis, that axis is squeezed, or (``expand_rank_1``, the shorter array being
    1-D) the shorter array gets a trailing axis instead. Returns the two arrays."""
    r1, r2 = np.ndim(x1), np.ndim(x2)
    if r1 == r2 + 1 and np.shape(x1)[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = np.expand_dims(x2, -1)
        else:
            x1 = np.squeeze(x1, -1)
    elif r2 == r1 + 1 and np.shape(x2)[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = np.expand_dims(x1, -1)
        else:
            x2 = np.squeeze(x2, -1)
    return x1, x2


def _as_array(x, name):
    """x as a float32 array; bool, integer and float inputs are converted as Keras does."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr


def _checked(x, name, scan=True):
    """x as a C-contiguous float32 array that is non-empty and finite; ``scan=False``
    leaves out the finiteness scan, for an array the caller has checked."""
    with np.errstate(over="ignore"):  # values beyond float32's range become inf: reported
        arr = np.ascontiguousarray(_as_array(x, name), dtype=np.float32)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    index = _core.find_nonfinite(arr) if scan else None
    if index is not None:
        raise ValueError(
            f"{name} must contain only finite values, got NaN or Inf at flat index {index} "
            f"(shape {arr.shape}, after conversion to float32)")
    return arr


def _labels(y_true, y_pred_shape):
    """Sparse labels as int64 of shape y_pred_shape[:-1]; a trailing size-1 axis of the
    same rank as y_pred is squeezed, as Keras does."""
    raw = _as_array(y_true, "y_true")
    labels = raw
    if labels.ndim == len(y_pred_shape) and labels.ndim > 0 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != tuple(y_pred_shape[:-1]):
        raise ValueError(
            "y_true (integer labels) must have the shape of y_pred without its last axis, "
            f"optionally with a trailing axis of size 1: y_pred has shape {tuple(y_pred_shape)}"
            f", so y_true should be {tuple(y_pred_shape[:-1])}, got {raw.shape}")
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all():
            raise ValueError("y_true (integer labels) must contain only finite values")
        if not (labels == np.floor(labels)).all():
            raise ValueError(
                "y_true (integer labels) must hold whole numbers (class indices), got "
                "fractional values; use categorical_crossentropy for soft targets")
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    classes = y_pred_shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        bad = labels[(labels < 0) | (labels >= classes)].ravel()[0]
        raise ValueError(
            f"y_true (integer labels) must be class indices in [0, {classes}) because y_pred "
            f"has {classes} classes on its last axis, got label {int(bad)}")
    return labels


class _Spec:
    """One loss as the core sees it: kind, sparse or dense targets, hyper-parameters."""

    def __init__(self, kind, *, sparse=False, from_logits=False, label_smoothing=0.0,
                 delta=1.0, warn_single_class=False):
        self.kind = kind
        self.sparse = sparse
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.delta = float(delta)
        self.warn_single_class = warn_single_class

    def core_kwargs(self):
        return {"kind": self.kind, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "delta": self.delta}

    def prepare(self, y_true, y_pred, pred_checked=False):
        """Checks and aligns the inputs (y_pred's finiteness only if not
        ``pred_checked``). Returns (targets as rows, y_pred as rows (R, C), per-sample
        shape)."""
        pred = _checked(y_pred, "y_pred", scan=not pred_checked)
        if self.sparse:
            if pred.ndim < 1:
                raise ValueError(
                    f"y_pred must have a class axis (at least 1-D), got shape {pred.shape}")
            target = _labels(y_true, pred.shape).reshape(-1)
        else:
            true = _checked(y_true, "y_true")
            true, pred = squeeze_or_expand_to_same_rank(true, pred)
            if true.shape != pred.shape:
                raise ValueError(
                    "y_true and y_pred must have the same shape (Keras' rank alignment "
                    "squeezes or adds one trailing axis of size 1 first), got y_true shape "
                    f"{np.shape(y_true)} and y_pred shape {np.shape(y_pred)}")
            if pred.ndim < 1:
                raise ValueError(
                    "y_true and y_pred must have at least one axis (the loss reduces the "
                    f"last one), got shape {pred.shape}")
            target = np.ascontiguousarray(true).reshape(-1, pred.shape[-1])
        if self.warn_single_class and pred.shape[-1] == 1:
            warnings.warn(
                "In loss categorical_crossentropy, expected y_pred.shape to be (batch_size, "
                f"num_classes) with num_classes > 1. Received: y_pred.shape={pred.shape}. "
                "Consider using 'binary_crossentropy' if you only have 2 classes.",
                SyntaxWarning, stacklevel=4)
        sample_shape = pred.shape[:-1]
        return target, np.ascontiguousarray(pred).reshape(-1, pred.shape[-1]), sample_shape

    # forward and backward take what prepare returned and checked (or the model did), and
    # a d_per_row made from finite sample weights: the core need not scan them again.

    def forward(self, target, pred_rows):
        fn = _core.sparse_crossentropy_forward if self.sparse else _core.loss_forward
        return fn(target, pred_rows, **self.core_kwargs(), check_finite=False)

    def backward(self, target, pred_rows, d_per_row):
        fn = _core.sparse_crossentropy_backward if self.sparse else _core.loss_backward
        return fn(target, pred_rows, d_per_row, **self.core_kwargs(), check_finite=False)

    def per_sample(self, y_true, y_pred):
        target, rows, sample_shape = self.prepare(y_true, y_pred)
        return self.forward(target, rows).reshape(sample_shape)


def _check_axis(axis):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"axis must be an int, got {axis!r}")
    if axis != -1:
        raise NotImplementedError(f"axis={axis} is not supported yet (only the last axis, -1)")


def _check_label_smoothing(label_smoothing):
    value = float(label_smoothing)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return value


def _check_delta(delta):
    value = float(delta)
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"delta must be a positive finite number, got {delta!r}")
    return value


def _check_from_logits(from_logits):
    if from_logits not in (True, False, 0, 1):
        raise ValueError(f"from_logits must be True or False, got {from_logits!r}")
    return bool(from_logits)


def _mse_spec():
    return _Spec(_core.LOSS_MSE)


def _mae_spec():
    return _Spec(_core.LOSS_MAE)


def _huber_spec(delta):
    return _Spec(_core.LOSS_HUBER, delta=_check_delta(delta))


def _cce_spec(from_logits, label_smoothing, axis):
    _check_axis(axis)
    return _Spec(_core.LOSS_CATEGORICAL_CROSSENTROPY, from_logits=_check_from_logits(from_logits),
                 label_smoothing=_check_label_smoothing(label_smoothing), warn_single_class=True)


def _scce_spec(from_logits, ignore_class, axis):
    _check_axis(axis)
    if ignore_class is not None:
        raise NotImplementedError(
            f"ignore_class={ignore_class!r} is not supported yet (only None)")
    # The core's sparse entry point ignores `kind`; the binding still reads it.
    return _Spec(_core.LOSS_CATEGORICAL_CROSSENTROPY, sparse=True,
                 from_logits=_check_from_logits(from_logits))


def _bce_spec(from_logits, label_smoothing, axis):
    _check_axis(axis)
    return _Spec(_core.LOSS_BINARY_CROSSENTROPY, from_logits=_check_from_logits(from_logits),
                 label_smoothing=_check_label_smoothing(label_smoothing))


# -- loss functions (per-sample values) ------------------------------------------------


def mean_squared_error(y_true, y_pred):
    """Mean over the last axis of ``(y_true - y_pred)**2``.

    Args:
        y_true: targets, the shape of y_pred (or differing by a trailing size-1 axis).
        y_pred: predictions ``(..., C)``.

    Returns:
        float32 array of shape ``y_pred.shape[:-1]``.
    """
    return _mse_spec().per_sample(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Mean over the last axis of ``|y_true - y_pred|``; shapes as mean_squared_error."""
    return _mae_spec().per_sample(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """Mean over the last axis of ``e**2 / 2`` where ``|e| <= delta``, else
    ``delta * |e| - delta**2 / 2``, with ``e = y_pred - y_true``; shapes as
    mean_squared_error."""
    return _huber_spec(delta).per_sample(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``-sum(y_true * log(q))`` over the last axis.

    With ``from_logits`` q is ``softmax(y_pred)``. Without it (the default) q is
    ``clip(y_pred / sum(y_pred), 1e-7, 1 - 1e-7)``: raw scores are normalised by their sum,
    not softmaxed, exactly as in Keras. Label smoothing s replaces y_true by
    ``y_true * (1 - s) + s / C``.

    Args:
        y_true: one-hot (or soft) targets, the shape of y_pred.
        y_pred: probabilities or logits ``(..., C)``.
        from_logits: whether y_pred holds logits.
        label_smoothing: s in [0, 1].
        axis: only -1 is supported.

    Returns:
        float32 array of shape ``y_pred.shape[:-1]``.

    Warns:
        SyntaxWarning: y_pred's last axis has size 1 (as Keras warns).
    """
    return _cce_spec(from_logits, label_smoothing, axis).per_sample(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """categorical_crossentropy with integer class labels.

    Args:
        y_true: labels of shape ``y_pred.shape[:-1]`` (or with a trailing axis of size 1),
            whole numbers in ``[0, C)``.
        y_pred: probabilities or logits ``(..., C)``.
        from_logits: whether y_pred holds logits.
        ignore_class: only None is supported.
        axis: only -1 is supported.

    Returns:
        float32 array of shape ``y_pred.shape[:-1]``.
    """
    return _scce_spec(from_logits, ignore_class, axis).per_sample(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Mean over the last axis of ``-(y log q + (1 - y) log(1 - q))``.

    q is ``clip(y_pred, 1e-7, 1 - 1e-7)``, or ``sigmoid(y_pred)`` computed stably (no
    clipping) with ``from_logits``. Label smoothing s replaces y by ``y (1 - s) + s / 2``.
    Shapes as mean_squared_error.
    """
    return _bce_spec(from_logits, label_smoothing, axis).per_sample(y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
bce = BCE = binary_crossentropy


# -- reduction ------------------------------------------------------------------------


def _standardize_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"reduction must be one of {list(_REDUCTIONS)}, got {reduction!r}")
    return reduction


def _sample_weights(sample_weight, sample_shape, fits="the per-sample losses"):
    """sample_weight broadcast to the per-sample shape (float64), or None.

    A weight of shape ``sample_shape[:k]`` (for example ``(N,)`` for per-sample losses
    ``(N, T)``) applies to every trailing position; a trailing axis of size 1 is squeezed;
    a scalar applies to everything. ``fits`` names what the shape belongs to, for the
    error message.
    """
    if sample_weight is None:
        return None
    sw = _as_array(sample_weight, "sample_weight").astype(np.float64)
    if not np.isfinite(sw).all():
        raise ValueError("sample_weight must contain only finite values")
    ndim = len(sample_shape)
    if sw.ndim == ndim + 1 and sw.shape[-1] == 1:
        sw = sw[..., 0]
    if sw.ndim < ndim and sw.shape == tuple(sample_shape[:sw.ndim]):
        sw = sw.reshape(sw.shape + (1,) * (ndim - sw.ndim))
    try:
        return np.broadcast_to(sw, sample_shape)
    except ValueError:
        raise ValueError(
            f"sample_weight of shape {np.shape(sample_weight)} does not fit {fits} of shape "
            f"{tuple(sample_shape)}: give one weight per sample (the leading axes), e.g. "
            "(N,) or, for temporal outputs, (N, T); a model output's mask counts as a "
            "weight of its shape") from None


def apply_mask(sample_weight, mask, reduction="sum_over_batch_size"):
    """Folds the mask of a model output into the sample weights, as Keras 3 does before
    reducing a loss or updating a mean metric.

    Masked entries get weight 0. For the ``"sum_over_batch_size"`` and ``"mean"``
    reductions the kept entries are also scaled by ``mask.size / kept``, so that the
    reduction, which divides by the number of entries, gives ``sum(w * l) / kept``: the
    mean over the kept entries, whatever the sample weights. A fully masked batch gets
    weights 0 (Keras' divide_no_nan), hence a loss of 0. Other reductions (and metrics,
    with ``"sum"``) use the mask as it is.

    Args:
        sample_weight: None, a scalar, or an array of the mask's shape or a leading part
            of it (``(N,)`` for a mask ``(N, T)``), as for a loss.
        mask: None, or a boolean array such as ``(N, T)`` for temporal outputs.
        reduction: the loss's reduction.

    Returns:
        float64 weights of the mask's shape; ``sample_weight`` itself when mask is None.

    Raises:
        ValueError: a mask that is not boolean, an unknown reduction, or sample weights
            that do not fit the mask.
    """
    reduction = _standardize_reduction(reduction)
    if mask is None:
        return sample_weight
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise ValueError(f"mask must be a boolean array, got dtype {mask.dtype}")
    weights = mask.astype(np.float64)
    if reduction in ("sum_over_batch_size", "mean"):
        kept = weights.sum()
        weights *= weights.size / kept if kept else 0.0
    if sample_weight is not None:
        weights *= _sample_weights(sample_weight, mask.shape, fits="the output mask")
    return weights


def _scale(reduction, count, weights):
    """The factor turning sum(loss * weight) into the reduced loss."""
    if reduction == "sum":
        return 1.0
    if reduction == "mean_with_sample_weight" and weights is not None:
        total = float(weights.sum())
        return 1.0 / total if total != 0.0 else 0.0  # Keras' divide_no_nan
    return 1.0 / count if count else 0.0


def _reduce(values, sample_weight, reduction):
    """Weights and reduces per-sample values as Keras' reduce_weighted_values does."""
    values = np.asarray(values, dtype=np.float64)
    weights = _sample_weights(sample_weight, values.shape)
    weighted = values if weights is None else values * weights
    if reduction is None or reduction == "none":
        return weighted.astype(np.float32)
    if weighted.ndim == 0:
        return float(weighted)
    return float(weighted.sum() * _scale(reduction, weighted.size, weights))


# -- loss classes ---------------------------------------------------------------------


class Loss:
    """Base class of losses, as Keras' ``Loss``.

    Subclasses implement ``call(y_true, y_pred)`` returning per-sample values; calling
    the instance weights and reduces them. Subclasses that can also give a gradient
    implement :meth:`forward_backward` (every built-in loss does).

    Args:
        name: the loss's name; by default the snake-case class name.
        reduction: ``"sum_over_batch_size"`` (default) and ``"mean"``: sum of the weighted
            per-sample losses divided by their number (not by the sum of the weights);
            ``"sum"``: their sum; ``"mean_with_sample_weight"``: the sum divided by the sum
            of the weights; ``None`` or ``"none"``: the weighted per-sample array.
        dtype: only float32 (Keras' default) is supported.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if dtype not in (None, "float32", np.float32):
            raise NotImplementedError(
                f"{type(self).__name__}: dtype must be float32, got {dtype!r}")
        self.name = name if name else _snake_case(type(self).__name__)
        self.reduction = _standardize_reduction(reduction)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss.

        Args:
            y_true: targets.
            y_pred: predictions ``(..., C)``.
            sample_weight: None, a scalar, ``(N,)``, or the per-sample shape (e.g.
                ``(N, T)`` for temporal outputs).

        Returns:
            A float, or for ``reduction=None`` the float32 array of weighted per-sample
            losses.
        """
        values = self.call(np.asarray(y_true), np.asarray(y_pred))
        return _reduce(values, sample_weight, self.reduction)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def forward_backward(self, y_true, y_pred, sample_weight=None):
        """The reduced loss and its gradient with respect to y_pred (gru_py's addition).

        Returns:
            ``(loss, d_y_pred)``: the float that ``self(y_true, y_pred, sample_weight)``
            returns, and a float32 array of y_pred's shape, d loss / d y_pred.

        Raises:
            NotImplementedError: this loss has no gradient (a custom loss that does not
                override this method).
        """
        raise NotImplementedError(
            f"loss {self.name!r} ({type(self).__name__}) has no gradient: gru_py trains with "
            "the C-core losses (mean_squared_error, mean_absolute_error, huber, "
            "categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy). "
            "A custom loss must subclass gru_py.losses.Loss and implement "
            "forward_backward(y_true, y_pred, sample_weight) -> (loss, d_y_pred)")

    def _train_forward_backward(self, y_true, y_pred, sample_weight):
        """forward_backward for a training step, whose y_pred the model has already found
        finite: the C-core losses skip their own scan of it."""
        return self.forward_backward(y_true, y_pred, sample_weight)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, reduction={self.reduction}>"


class LossFunctionWrapper(Loss):
    """A Loss around a function ``fn(y_true, y_pred, **kwargs)`` returning per-sample
    values. The inputs are rank-aligned first, as in Keras. Without a C gradient:
    forward_backward raises NotImplementedError."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        name = name or _snake_case(getattr(fn, "__name__", type(fn).__name__))
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(
            np.asarray(y_true, dtype=np.float32), np.asarray(y_pred, dtype=np.float32))
        return np.asarray(self.fn(y_true, y_pred, **self._fn_kwargs))


class _CoreLoss(Loss):
    """A loss whose rows are computed by the C core; subclasses build ``self._spec``."""

    _spec = None

    def call(self, y_true, y_pred):
        return self._spec.per_sample(y_true, y_pred)

    def forward_backward(self, y_true, y_pred, sample_weight=None):
        """The reduced loss and d loss / d y_pred, in one pass through the C core.

        The gradient is that of the value ``self(y_true, y_pred, sample_weight)`` returns:
        with per-sample losses l (shape S = ``y_pred.shape[:-1]`` after alignment) and
        weights w broadcast to S, the loss is ``c * sum(w * l)`` where c is
        ``1 / size(S)`` ("sum_over_batch_size", "mean"), 1 ("sum") or ``1 / sum(w)``
        ("mean_with_sample_weight"); the core back-propagates ``d_per_row = c * w``
        through each row.

        Args:
            y_true: targets (integer labels for the sparse loss).
            y_pred: predictions ``(..., C)``.
            sample_weight: as for ``__call__``.

        Returns:
            ``(loss, d_y_pred)``: a float and a float32 array of y_pred's shape.

        Raises:
            ValueError: bad inputs (as ``__call__``), or ``reduction=None`` (an unreduced
                loss has no scalar to differentiate).
        """
        return self._forward_backward(y_true, y_pred, sample_weight, pred_checked=False)

    def _train_forward_backward(self, y_true, y_pred, sample_weight):
        return self._forward_backward(y_true, y_pred, sample_weight, pred_checked=True)

    def _forward_backward(self, y_true, y_pred, sample_weight, pred_checked):
        if self.reduction is None or self.reduction == "none":
            raise ValueError(
                f"loss {self.name!r}: forward_backward needs a reduced loss, but reduction "
                f"is {self.reduction!r}")
        pred_shape = np.shape(y_pred)
        target, rows, sample_shape = self._spec.prepare(y_true, y_pred, pred_checked)
        values = self._spec.forward(target, rows).astype(np.float64)
        weights = _sample_weights(sample_weight, sample_shape)
        # Keras returns a scalar per-sample loss (1-D inputs) weighted but unreduced.
        scale = _scale(self.reduction, values.size, weights) if sample_shape else 1.0
        flat_weights = None if weights is None else weights.reshape(-1)
        weighted_sum = values.sum() if flat_weights is None else (values * flat_weights).sum()
        if flat_weights is None:
            d_per_row = np.full(values.shape, scale, dtype=np.float32)
        else:
            d_per_row = (flat_weights * scale).astype(np.float32)
        d_pred = self._spec.backward(target, rows, d_per_row)
        return float(weighted_sum * scale), d_pred.reshape(pred_shape)


class MeanSquaredError(_CoreLoss):
    """Loss of :func:`mean_squared_error`; see :class:`Loss` for reduction, name, dtype."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._spec = _mse_spec()


class MeanAbsoluteError(_CoreLoss):
    """Loss of :func:`mean_absolute_error`; see :class:`Loss` for reduction, name, dtype."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._spec = _mae_spec()


class Huber(_CoreLoss):
    """Loss of :func:`huber` with threshold ``delta`` (> 0)."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._spec = _huber_spec(delta)
        self.delta = self._spec.delta

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class CategoricalCrossentropy(_CoreLoss):
    """Loss of :func:`categorical_crossentropy` (one-hot or soft targets)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._spec = _cce_spec(from_logits, label_smoothing, axis)
        self.from_logits = self._spec.from_logits
        self.label_smoothing = self._spec.label_smoothing
        self.axis = axis

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(_CoreLoss):
    """Loss of :func:`sparse_categorical_crossentropy` (integer labels)."""

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._spec = _scce_spec(from_logits, ignore_class, -1)
        self.from_logits = self._spec.from_logits
        self.ignore_class = ignore_class

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "ignore_class": self.ignore_class}


class BinaryCrossentropy(_CoreLoss):
    """Loss of :func:`binary_crossentropy`."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._spec = _bce_spec(from_logits, label_smoothing, axis)
        self.from_logits = self._spec.from_logits
        self.label_smoothing = self._spec.label_smoothing
        self.axis = axis

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


# -- lookup and serialisation ---------------------------------------------------------

_CLASSES = (MeanSquaredError, MeanAbsoluteError, Huber, CategoricalCrossentropy,
            SparseCategoricalCrossentropy, BinaryCrossentropy)
_BY_CLASS = {cls.__name__: cls for cls in _CLASSES}
# Each function and the class that computes it, with the function's defaults.
_FUNCTION_CLASS = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    huber: Huber,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
}
_BY_FUNCTION_NAME = {fn.__name__: fn for fn in _FUNCTION_CLASS}
_BY_FUNCTION_NAME.update({"mse": mean_squared_error, "MSE": mean_squared_error,
                          "mae": mean_absolute_error, "MAE": mean_absolute_error,
                          "bce": binary_crossentropy, "BCE": binary_crossentropy})
# Keras 3 losses that gru_py does not have yet: NotImplementedError rather than "unknown".
_NOT_YET = {
    "mean_absolute_percentage_error", "mape", "MAPE", "MeanAbsolutePercentageError",
    "mean_squared_logarithmic_error", "msle", "MSLE", "MeanSquaredLogarithmicError",
    "kl_divergence", "kld", "KLD", "KLDivergence", "poisson", "Poisson", "log_cosh",
    "LogCosh", "hinge", "Hinge", "squared_hinge", "SquaredHinge", "categorical_hinge",
    "CategoricalHinge", "cosine_similarity", "CosineSimilarity", "binary_focal_crossentropy",
    "BinaryFocalCrossentropy", "categorical_focal_crossentropy",
    "CategoricalFocalCrossentropy", "ctc", "CTC", "dice", "Dice", "tversky", "Tversky",
    "circle", "Circle", "iou", "IoU", "categorical_generalized_cross_entropy",
    "CategoricalGeneralizedCrossEntropy",
}
_SHAPE_RESOLVED = ("crossentropy", "ce")


def _known_names():
    return sorted(_BY_FUNCTION_NAME) + sorted(_BY_CLASS) + list(_SHAPE_RESOLVED)


def _is_binary_or_sparse(y_true, y_pred):
    """Keras 3's choice between binary, sparse and categorical by the shapes alone."""
    true_shape, pred_shape = np.shape(y_true), np.shape(y_pred)
    if not true_shape or not pred_shape:
        raise ValueError(
            "resolving by shape needs y_true and y_pred with at least one axis, got shapes "
            f"{true_shape} and {pred_shape}")
    is_binary = pred_shape[-1] == 1
    is_sparse = len(true_shape) < len(pred_shape) or (true_shape[-1] == 1 and pred_shape[-1] != 1)
    return is_binary, is_sparse


def _from_function(fn, name):
    return _FUNCTION_CLASS[fn](name=name)


def _by_shapes(identifier, y_true, y_pred, reduction="sum_over_batch_size"):
    is_binary, is_sparse = _is_binary_or_sparse(y_true, y_pred)
    if is_binary:
        return BinaryCrossentropy(name=identifier, reduction=reduction)
    if is_sparse:
        return SparseCategoricalCrossentropy(name=identifier, reduction=reduction)
    return CategoricalCrossentropy(name=identifier, reduction=reduction)


class _CrossentropyByShape(Loss):
    """``"crossentropy"`` / ``"ce"`` before the shapes are known: resolved on the first
    call (binary, sparse or categorical, as Keras 3's compile does) and then fixed."""

    def __init__(self, identifier, reduction="sum_over_batch_size"):
        super().__init__(name=identifier, reduction=reduction)
        self.identifier = identifier
        self.resolved = None

    def _resolve(self, y_true, y_pred):
        if self.resolved is None:
            self.resolved = _by_shapes(self.identifier, y_true, y_pred, self.reduction)
        return self.resolved

    def call(self, y_true, y_pred):
        return self._resolve(y_true, y_pred).call(y_true, y_pred)

    def forward_backward(self, y_true, y_pred, sample_weight=None):
        return self._resolve(y_true, y_pred).forward_backward(y_true, y_pred, sample_weight)

    def _train_forward_backward(self, y_true, y_pred, sample_weight):
        return self._resolve(y_true, y_pred)._train_forward_backward(y_true, y_pred,
                                                                     sample_weight)


def get(identifier, y_true=None, y_pred=None):
    """Resolves a loss identifier to a :class:`Loss` instance.

    Unlike Keras' ``losses.get``, a function name also gives a Loss instance (named by the
    string), so that every resolved loss can be called and trained with.

    Args:
        identifier: None; a function name or alias (``"mse"``, ``"mean_squared_error"``,
            ``"mae"``, ``"huber"``, ``"categorical_crossentropy"``,
            ``"sparse_categorical_crossentropy"``, ``"binary_crossentropy"``, ``"bce"``,
            upper-case aliases); a class name (``"MeanSquaredError"``, ...);
            ``"crossentropy"`` / ``"ce"`` (any case), chosen by the shapes of y_true and
            y_pred as Keras 3's compile does, on the first call when they are not given
            here; a config dict ``{"class_name": ..., "config": {...}}``; a Loss class or
            instance; or a callable ``fn(y_true, y_pred)`` returning per-sample losses
            (wrapped in :class:`LossFunctionWrapper`, without a gradient).
        y_true, y_pred: arrays (or objects with ``.shape``) whose shapes resolve
            ``"crossentropy"``; unused otherwise.

    Returns:
        A Loss, or None for None.

    Raises:
        ValueError: unknown identifier (the message lists the known names).
        NotImplementedError: a Keras loss that gru_py does not have yet.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in _SHAPE_RESOLVED:
            if y_true is None or y_pred is None:
                return _CrossentropyByShape(identifier)
            return _by_shapes(identifier, y_true, y_pred)
        if identifier in _BY_FUNCTION_NAME:
            return _from_function(_BY_FUNCTION_NAME[identifier], identifier)
        if identifier in _BY_CLASS:
            return _BY_CLASS[identifier]()
        if identifier in _NOT_YET:
            raise NotImplementedError(
                f"loss {identifier!r} is not supported yet; available: {_known_names()}")
        raise ValueError(f"Could not interpret loss identifier {identifier!r}; "
                         f"known names: {_known_names()}")
    if callable(identifier):
        if identifier in _FUNCTION_CLASS:
            return _from_function(identifier, identifier.__name__)
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier {identifier!r}; "
                     f"known names: {_known_names()}")


def serialize(loss):
    """A JSON-compatible form of a loss.

    A Loss gives ``{"class_name": ..., "config": get_config()}``; a function (or a
    LossFunctionWrapper, or ``"crossentropy"`` not yet resolved) gives Keras' function
    form ``{"class_name": "function", "config": name}``. Deserialising a custom class or
    function needs it again in ``custom_objects``, as in Keras.
    """
    if loss is None:
        return None
    if isinstance(loss, _CrossentropyByShape):
        return {"class_name": "function", "config": loss.identifier}
    if isinstance(loss, LossFunctionWrapper):
        loss = loss.fn
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    if callable(loss):
        return {"class_name": "function", "config": getattr(loss, "__name__", repr(loss))}
    raise ValueError(f"cannot serialise loss {loss!r}")


def deserialize(config, custom_objects=None):
    """The inverse of :func:`serialize`: a Loss from a config dict or a name.

    Args:
        config: ``{"class_name": ..., "config": {...}}``, Keras' function form
            ``{"class_name": "function", "config": name}``, or a name.
        custom_objects: optional dict from names to custom Loss classes or functions.
    """
    custom_objects = custom_objects or {}
    if isinstance(config, str):
        if config in custom_objects:
            return get(custom_objects[config])
        return get(config)
    if not isinstance(config, dict):
        raise ValueError(f"loss config must be a dict or a name, got {config!r}")
    class_name = config.get("class_name")
    if class_name == "function":
        return deserialize(config.get("config"), custom_objects)
    return from_class_config("loss", config, _BY_CLASS, _CLASSES, custom_objects)


__all__ = [
    "BCE", "BinaryCrossentropy", "CategoricalCrossentropy", "EPSILON", "Huber", "Loss",
    "LossFunctionWrapper", "MAE", "MSE", "MeanAbsoluteError", "MeanSquaredError",
    "SparseCategoricalCrossentropy", "apply_mask", "bce", "binary_crossentropy",
    "categorical_crossentropy",
    "deserialize", "get", "huber", "mae", "mean_absolute_error", "mean_squared_error", "mse",
    "serialize", "sparse_categorical_crossentropy", "squeeze_or_expand_to_same_rank",
]
