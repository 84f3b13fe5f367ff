"""Stateful metrics with Keras 3's names, definitions and accumulation rules, in NumPy.

A metric accumulates over batches with ``update_state(y_true, y_pred, sample_weight)``
and reports ``result()`` (a float; an array for ``F1Score(average=None)`` or for
Precision/Recall with several thresholds); ``reset_state()`` starts again (the model does
it each epoch). State is kept in float64.

:func:`get` resolves names as Keras 3's ``compile`` does, including ``"accuracy"`` /
``"acc"``, chosen from the shapes of the targets and predictions (API_SPEC 4.6):
``y_pred.shape[-1] == 1`` gives BinaryAccuracy; otherwise ``rank(y_true) < rank(y_pred)``
or ``y_true.shape[-1] == 1`` gives SparseCategoricalAccuracy; else CategoricalAccuracy.
A metric resolved from a string is named by that string.
"""


import numpy as np

from gru_py import losses
from gru_py._config import from_class_config
from gru_py.losses import _snake_case, squeeze_or_expand_to_same_rank

_NEG_INF = -1e10  # Keras' value for predictions outside the top k
_EPSILON = 1e-7


def _array(x, name, dtype=np.float64):
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr.astype(dtype, copy=False)


def _scalar_or_array(value):
    value = np.asarray(value, dtype=np.float64)
    return float(value) if value.ndim == 0 else value.astype(np.float32)


def _divide_no_nan(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out = np.zeros(np.broadcast(a, b).shape)
    np.divide(a, b, out=out, where=b != 0)
    return out


class Metric:
    """Base class of metrics, as Keras' ``Metric``.

    Subclasses implement ``update_state``, ``result`` and ``reset_state`` and call
    ``super().__init__(name=..., dtype=...)`` first.

    Args:
        name: the metric's name (the key in the training logs); by default the
            snake-case class name.
        dtype: only float32 (Keras' default) is supported.
    """

    def __init__(self, name=None, dtype=None):
        if dtype not in (None, "float32", np.float32):
            raise NotImplementedError(
                f"{type(self).__name__}: dtype must be float32, got {dtype!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {name!r}")
        self.name = name if name else _snake_case(type(self).__name__)
        self.dtype = "float32"

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self):
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state")

    def __call__(self, *args, **kwargs):
        """update_state, then result, as in Keras."""
        self.update_state(*args, **kwargs)
        return self.result()

    def _update_state_masked(self, y_true, y_pred, sample_weight, mask):
        """update_state for a model output that carries ``mask`` (or None). Keras 3's
        confusion-matrix metrics (Precision, Recall, F1Score, AUC, ...) do not read the
        mask, so by default it is ignored; mean metrics override this."""
        self.update_state(y_true, y_pred, sample_weight=sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


# -- means ----------------------------------------------------------------------------


class Mean(Metric):
    """The (weighted) running mean of the values given to ``update_state``.

    Values of rank > 1 are first averaged per sample (over every axis but the first), as
    in Keras; with weights, each sample counts with its weight.
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        """Adds values (a scalar or an array whose first axis is the batch).

        Args:
            values: a number or an array ``(N, ...)``.
            sample_weight: None, a scalar, or an array broadcastable to values after
                Keras' rank alignment (e.g. ``(N,)``).
        """
        if type(values) is float and type(sample_weight) in (int, float, type(None)):
            # A Python number, as fit's loss tracker gives once a batch: the general path's
            # float64 arithmetic below, without its NumPy calls (40 us a batch).
            if sample_weight is None:
                self.total += values
                self.count += 1.0
            else:
                self.total += values * float(sample_weight)
                self.count += float(sample_weight)
            return
        values = _array(values, "values")
        if sample_weight is None:
            if values.ndim > 1:
                values = values.mean(axis=tuple(range(1, values.ndim)))
            self.total += float(values.sum())
            self.count += float(values.shape[0]) if values.ndim >= 1 else 1.0
            return
        weights = _array(sample_weight, "sample_weight")
        values, weights = squeeze_or_expand_to_same_rank(values, weights)
        if values.ndim > weights.ndim:
            values = values.mean(axis=tuple(range(weights.ndim, values.ndim)))
        try:
            weights = np.broadcast_to(weights, values.shape)
        except ValueError:
            raise ValueError(
                f"{self.name}: sample_weight of shape {np.shape(sample_weight)} does not fit "
                f"values of shape {np.shape(values)}") from None
        values = values * weights
        if weights.ndim > 1:
            weights = weights.mean(axis=tuple(range(1, weights.ndim)))
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        self.total += float(values.sum())
        self.count += float(weights.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The running mean of ``fn(y_true, y_pred, **kwargs)``, a per-sample function.

    Args:
        fn: a callable returning per-sample values.
        name: defaults to the snake-case name of fn.
        dtype: only float32.
        **kwargs: passed to fn.
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        name = name or getattr(fn, "name", None) or _snake_case(
            getattr(fn, "__name__", type(fn).__name__))
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs
        if isinstance(fn, losses.Loss) or fn in _LOSS_FUNCTIONS:
            self._direction = "down"  # a loss: smaller is better

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def _update_state_masked(self, y_true, y_pred, sample_weight, mask):
        # Keras 3 weights the per-sample values by the mask (times any sample weights):
        # masked steps count neither in the total nor in the count.
        self.update_state(y_true, y_pred,
                          sample_weight=losses.apply_mask(sample_weight, mask, "sum"))

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


_LOSS_FUNCTIONS = (losses.mean_squared_error, losses.mean_absolute_error, losses.huber,
                   losses.categorical_crossentropy, losses.sparse_categorical_crossentropy,
                   losses.binary_crossentropy)


def _aligned(y_true, y_pred):
    y_true = _array(y_true, "y_true")
    y_pred = _array(y_pred, "y_pred")
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def _same_shape(y_true, y_pred, metric):
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{metric}: y_true and y_pred must have the same shape (after Keras' rank "
            f"alignment), got {y_true.shape} and {y_pred.shape}")


def _squared_error(y_true, y_pred):
    y_true, y_pred = _aligned(y_true, y_pred)
    _same_shape(y_true, y_pred, "mean_squared_error")
    return np.mean(np.square(y_true - y_pred), axis=-1)


def _absolute_error(y_true, y_pred):
    y_true, y_pred = _aligned(y_true, y_pred)
    _same_shape(y_true, y_pred, "mean_absolute_error")
    return np.mean(np.abs(y_true - y_pred), axis=-1)


class MeanSquaredError(MeanMetricWrapper):
    """Running mean of ``mean((y_true - y_pred)**2, axis=-1)``."""

    _direction = "down"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Running mean of ``mean(|y_true - y_pred|, axis=-1)``."""

    _direction = "down"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(_absolute_error, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """Running mean of :func:`gru_py.losses.binary_crossentropy`."""

    _direction = "down"

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(losses.binary_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    """Running mean of :func:`gru_py.losses.categorical_crossentropy`."""

    _direction = "down"

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0, axis=-1):
        super().__init__(losses.categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Running mean of :func:`gru_py.losses.sparse_categorical_crossentropy`."""

    _direction = "down"

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 axis=-1):
        super().__init__(losses.sparse_categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, axis=axis)


# -- accuracies -----------------------------------------------------------------------


def accuracy(y_true, y_pred):
    """Per sample: the fraction of entries (last axis) where y_pred equals y_true."""
    y_true, y_pred = _aligned(y_true, y_pred)
    return np.mean(y_true == y_pred, axis=-1)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per sample: the fraction of entries where ``y_pred > threshold`` equals y_true."""
    y_true, y_pred = _aligned(y_true, y_pred)
    return np.mean(y_true == (y_pred > threshold), axis=-1)


def categorical_accuracy(y_true, y_pred):
    """Per sample: whether argmax(y_pred) equals argmax(y_true) on the last axis."""
    y_true, y_pred = _array(y_true, "y_true"), _array(y_pred, "y_pred")
    if y_true.shape != y_pred.shape or y_pred.ndim < 1:
        raise ValueError(
            "categorical_accuracy: y_true must be one-hot with the shape of y_pred, got "
            f"{y_true.shape} and {y_pred.shape} (integer labels need "
            "sparse_categorical_accuracy)")
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """Per sample: whether argmax(y_pred) on the last axis equals the label y_true."""
    y_true, y_pred = _array(y_true, "y_true"), _array(y_pred, "y_pred")
    if y_pred.ndim < 1:
        raise ValueError(f"sparse_categorical_accuracy: y_pred must have a class axis, got "
                         f"shape {y_pred.shape}")
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            "sparse_categorical_accuracy: y_true must hold one label per sample, shape "
            f"{y_pred.shape[:-1]} (or with a trailing axis of size 1), got {y_true.shape}")
    return (y_true == np.argmax(y_pred, axis=-1)).astype(np.float64)


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly."""

    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches binary labels.

    Args:
        threshold: in (0, 1).
    """

    _direction = "up"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if threshold is not None and not 0 < threshold < 1:
            raise ValueError(
                "Invalid value for argument `threshold`. Expected a value in interval (0, 1)."
                f" Received: threshold={threshold}")
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches one-hot labels."""

    _direction = "up"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches integer labels."""

    _direction = "up"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


# -- confusion-matrix metrics ---------------------------------------------------------


def _parse_thresholds(thresholds, default):
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) \
        else [thresholds]
    bad = [t for t in values if t is None or not 0 <= t <= 1]
    if bad or not values:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad or values}")
    return [float(t) for t in values]


def _filter_top_k(x, k):
    """Keeps the k largest entries of the last axis (lower index first among ties) and
    sets the others to Keras' NEG_INF."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return np.where(keep, x, _NEG_INF)


def _confusion_inputs(y_true, y_pred, sample_weight, top_k=None, class_id=None):
    """Keras' update_confusion_matrix_variables up to the thresholding: rank alignment,
    top_k, class_id and weights broadcast to y_pred. Returns (labels as bool, y_pred,
    weights), each of y_pred's shape."""
    y_pred, y_true = squeeze_or_expand_to_same_rank(_array(y_pred, "y_pred"),
                                                    _array(y_true, "y_true"))
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    weights = None
    if sample_weight is not None:
        weights = np.expand_dims(_array(sample_weight, "sample_weight"), -1)
        _, weights = squeeze_or_expand_to_same_rank(y_true, weights, expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim < 2:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape "
                f"(num_samples, num_classes), found shape: {y_pred.shape}")
        if not 0 <= class_id < y_pred.shape[-1]:
            raise ValueError(f"class_id={class_id} is out of range for {y_pred.shape[-1]} classes")
        y_true = y_true[..., class_id, None]
        y_pred = y_pred[..., class_id, None]
    if weights is None:
        weights = np.ones(y_pred.shape)
    else:
        try:
            weights = np.broadcast_to(weights, y_pred.shape)
        except ValueError:
            raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not fit "
                             f"y_pred of shape {y_pred.shape}") from None
    return y_true != 0, y_pred, weights


def _counts(labels, y_pred, weights, thresholds):
    """(tp, fp, tn, fn) per threshold, with predictions > threshold positive. Arrays of
    shape (len(thresholds),) summed over every entry."""
    labels, y_pred, weights = labels.ravel(), y_pred.ravel(), weights.ravel()
    positive = y_pred[None, :] > np.asarray(thresholds)[:, None]
    pos_w, neg_w = weights * labels, weights * ~labels
    tp = positive @ pos_w
    fp = positive @ neg_w
    return tp, fp, neg_w.sum() - fp, pos_w.sum() - tp


class _ThresholdMetric(Metric):
    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)
                                  or top_k < 1):
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        if class_id is not None and (isinstance(class_id, bool)
                                     or not isinstance(class_id, int) or class_id < 0):
            raise ValueError(f"class_id must be a non-negative integer, got {class_id!r}")
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = _parse_thresholds(thresholds, 0.5 if top_k is None else _NEG_INF)
        self.reset_state()

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulates counts. y_true and y_pred have the same shape (binary labels and
        scores); sample_weight is None, a scalar, ``(N,)`` or y_pred's shape."""
        labels, y_pred, weights = _confusion_inputs(y_true, y_pred, sample_weight,
                                                    self.top_k, self.class_id)
        tp, fp, _, fn = _counts(labels, y_pred, weights, self.thresholds)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn

    def _finish(self, value):
        return _scalar_or_array(value[0] if len(self.thresholds) == 1 else value)

    def get_config(self):
        thresholds = self.init_thresholds
        if isinstance(thresholds, np.ndarray):
            thresholds = thresholds.tolist()
        return {**super().get_config(), "thresholds": thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_ThresholdMetric):
    """``tp / (tp + fp)``, predictions above the threshold counting as positive.

    Args:
        thresholds: a float or list of floats in [0, 1]; None means 0.5 (or, with top_k,
            every top-k entry is positive). Several thresholds give an array result.
        top_k: only the k largest predictions of each row can be positive.
        class_id: only this column of ``(N, C)`` data is scored.
        name, dtype: as for Metric (the name defaults to ``"precision"``).
    """

    def result(self):
        return self._finish(_divide_no_nan(self.true_positives,
                                           self.true_positives + self.false_positives))


class Recall(_ThresholdMetric):
    """``tp / (tp + fn)``; arguments as for :class:`Precision` (name ``"recall"``)."""

    def result(self):
        return self._finish(_divide_no_nan(self.true_positives,
                                           self.true_positives + self.false_negatives))


class FBetaScore(Metric):
    """The F-beta score per class, or averaged.

    Args:
        average: None (one score per class: an array), ``"micro"`` (from global
            counts), ``"macro"`` (unweighted mean) or ``"weighted"`` (mean weighted by
            the number of true instances per class).
        beta: > 0, the weight of recall.
        threshold: predictions above it are positive; None marks each row's maximum
            (every tied maximum, not zero) as the positive.
        name, dtype: as for Metric.

    Inputs are 2-D ``(N, C)``; sample_weight is ``(N,)``.
    """

    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                "Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                f"'weighted'}}. Received: average={average}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: "
                             f"beta={beta!r}")
        if threshold is not None and (isinstance(threshold, bool)
                                      or not isinstance(threshold, (int, float))
                                      or not 0 < threshold <= 1):
            raise ValueError("Invalid `threshold` argument value. It should verify "
                             f"0 < threshold <= 1. Received: threshold={threshold!r}")
        self.average = average
        self.beta = float(beta)
        self.threshold = None if threshold is None else float(threshold)
        self._num_classes = None
        self.reset_state()

    def reset_state(self):
        shape = () if self.average == "micro" or self._num_classes is None \
            else (self._num_classes,)
        self.true_positives = np.zeros(shape)
        self.false_positives = np.zeros(shape)
        self.false_negatives = np.zeros(shape)
        self.intermediate_weights = np.zeros(shape)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true, "y_true"), _array(y_pred, "y_pred")
        if y_true.ndim != 2 or y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs of the same shape (batch_size, "
                f"output_dim). Received input shapes: y_pred.shape={y_pred.shape} and "
                f"y_true.shape={y_true.shape}.")
        if self._num_classes is None:
            self._num_classes = y_pred.shape[1]
            self.reset_state()
        elif y_pred.shape[1] != self._num_classes:
            raise ValueError(f"{self.name}: y_pred has {y_pred.shape[1]} classes, earlier "
                             f"batches had {self._num_classes}")
        if self.threshold is None:
            top = y_pred.max(axis=-1, keepdims=True)
            predicted = (y_pred >= top) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(np.float64)
        weights = np.ones((y_true.shape[0], 1))
        if sample_weight is not None:
            sw = _array(sample_weight, "sample_weight")
            weights = np.broadcast_to(sw, (y_true.shape[0],)).reshape(-1, 1) if sw.ndim <= 1 \
                else sw
        axis = None if self.average == "micro" else 0

        def weighted_sum(values):
            return np.sum(values * weights, axis=axis)

        self.true_positives = self.true_positives + weighted_sum(predicted * y_true)
        self.false_positives = self.false_positives + weighted_sum(predicted * (1 - y_true))
        self.false_negatives = self.false_negatives + weighted_sum((1 - predicted) * y_true)
        self.intermediate_weights = self.intermediate_weights + weighted_sum(y_true)

    def result(self):
        if self._num_classes is None:
            return 0.0
        precision = self.true_positives / (self.true_positives + self.false_positives
                                           + _EPSILON)
        recall = self.true_positives / (self.true_positives + self.false_negatives + _EPSILON)
        b2 = self.beta ** 2
        score = (1 + b2) * precision * recall / (b2 * precision + recall + _EPSILON)
        if self.average == "weighted":
            weights = self.intermediate_weights / (self.intermediate_weights.sum() + _EPSILON)
            score = np.sum(score * weights)
        elif self.average is not None:
            score = np.mean(score)
        return _scalar_or_array(score)

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1: ``2 p r / (p + r)`` per class (average=None), or
    averaged; see :class:`FBetaScore`."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from counts at fixed thresholds.

    The thresholds are ``i / (num_thresholds - 1)`` for the inner points plus ``-1e-7``
    and ``1 + 1e-7`` at the ends, as in Keras; a prediction is positive at a threshold
    when it is strictly above it. The curve's points at the thresholds are exact; with
    ``summation_method="interpolation"`` consecutive points are joined by trapezoids (for
    PR, Davis & Goadrich's interpolation of the counts), so the result equals the exact
    area whenever no interval between two thresholds holds both positive and negative
    predictions.

    Args:
        num_thresholds: > 1; 200 by default.
        curve: ``"ROC"`` or ``"PR"``.
        summation_method: ``"interpolation"``, ``"minoring"`` (lower bound) or
            ``"majoring"`` (upper bound).
        name, dtype: as for Metric (name ``"auc"``).
        thresholds: explicit thresholds in [0, 1] instead of num_thresholds.
        multi_label: compute one AUC per label (column) and average them, rather than
            treating every entry as one sample.
        num_labels: the number of labels (multi_label only); otherwise taken from the
            first batch.
        label_weights: non-negative weights of the labels: in the average of the label
            AUCs (multi_label), else of the entries of each column.
        from_logits: apply a sigmoid to y_pred first.
    """

    _direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        curves = {"roc": "ROC", "pr": "PR"}
        methods = {"interpolation": "interpolation", "majoring": "majoring",
                   "minoring": "minoring"}
        if not isinstance(curve, str) or curve.lower() not in curves:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are '
                             '["PR", "ROC"]')
        if not isinstance(summation_method, str) or summation_method.lower() not in methods:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             'Expected values are ["interpolation", "majoring", "minoring"]')
        self.curve = curves[curve.lower()]
        self.summation_method = methods[summation_method.lower()]
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_parse_thresholds(thresholds, 0.5))
            self.num_thresholds = len(inner) + 2
            evenly = np.allclose(np.array([0.0] + inner + [1.0]),
                                 np.arange(len(inner) + 2) / (len(inner) + 1), atol=_EPSILON)
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) \
                    or num_thresholds <= 1:
                raise ValueError("Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            evenly = True
        self._evenly = evenly and self.num_thresholds >= 3
        self._thresholds = np.array([0.0 - _EPSILON] + inner + [1.0 + _EPSILON])
        if num_labels is not None and not multi_label:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else \
            _array(label_weights, "label_weights").copy()
        if self.label_weights is not None and (self.label_weights < 0).any():
            raise ValueError("label_weights must be non-negative")
        self._from_logits = bool(from_logits)
        self._labels = num_labels if multi_label else None
        self.reset_state()

    @property
    def thresholds(self):
        """The thresholds, end points included."""
        return list(self._thresholds)

    def reset_state(self):
        shape = (self.num_thresholds,) if not self.multi_label else \
            (self.num_thresholds, self._labels or 0)
        self.true_positives = np.zeros(shape)
        self.false_positives = np.zeros(shape)
        self.true_negatives = np.zeros(shape)
        self.false_negatives = np.zeros(shape)

    def _positive_counts(self, y_pred, pos_w, neg_w):
        """For each threshold, the summed pos_w and neg_w over predictions above it. Arrays
        of y_pred's flat length, or (N, L) with a column per label."""
        if self._evenly:
            # Keras' bucketing for evenly spaced thresholds, in float32 as Keras runs it:
            # a prediction p (clipped to [0, 1]) is above threshold i exactly when
            # ceil(p * (T - 1)) - 1 >= i; the first bucket takes everything (threshold
            # -epsilon).
            p = np.clip(y_pred.astype(np.float32), 0.0, 1.0)
            bucket = np.ceil(p * np.float32(self.num_thresholds - 1)).astype(np.int64) - 1
            bucket = np.maximum(bucket, 0)

            def above(w):
                if w.ndim == 1:
                    counts = np.bincount(bucket, weights=w, minlength=self.num_thresholds)
                    return np.cumsum(counts[::-1])[::-1]
                cols = [np.bincount(bucket[:, j], weights=w[:, j],
                                    minlength=self.num_thresholds) for j in range(w.shape[1])]
                return np.cumsum(np.stack(cols, axis=1)[::-1], axis=0)[::-1]

            return above(pos_w), above(neg_w)
        thresholds = self._thresholds.reshape((-1,) + (1,) * y_pred.ndim)
        positive = y_pred[None] > thresholds
        return (positive * pos_w[None]).sum(axis=1), (positive * neg_w[None]).sum(axis=1)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulates the confusion counts at every threshold.

        Args:
            y_true: binary labels, the shape of y_pred (up to a trailing size-1 axis).
            y_pred: scores in [0, 1] (logits with from_logits); ``(N, L)`` for multi_label.
            sample_weight: None, a scalar, ``(N,)`` or y_pred's shape.
        """
        y_pred = _array(y_pred, "y_pred")
        if self._from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        labels, y_pred, weights = _confusion_inputs(y_true, y_pred, sample_weight)
        if self.multi_label:
            if y_pred.ndim != 2:
                raise ValueError("`y_pred` must have rank 2 when `multi_label=True`. Found "
                                 f"rank {y_pred.ndim}. Full shape received for `y_pred`: "
                                 f"{y_pred.shape}")
            if self._labels is None:
                self._labels = y_pred.shape[1]
                self.reset_state()
            elif y_pred.shape[1] != self._labels:
                raise ValueError(f"{self.name}: expected {self._labels} labels, got "
                                 f"{y_pred.shape[1]}")
        else:
            if self.label_weights is not None:
                weights = weights * np.broadcast_to(self.label_weights, y_pred.shape)
            labels, y_pred, weights = labels.ravel(), y_pred.ravel(), weights.ravel()
        pos_w, neg_w = weights * labels, weights * ~labels
        tp, fp = self._positive_counts(y_pred, pos_w, neg_w)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += pos_w.sum(axis=0) - tp
        self.true_negatives += neg_w.sum(axis=0) - fp

    def _average(self, by_label):
        if not self.multi_label:
            return by_label
        if self.label_weights is None:
            return np.mean(by_label) if by_label.size else 0.0
        return float(_divide_no_nan(np.sum(by_label * self.label_weights),
                                    np.sum(self.label_weights)))

    def _interpolate_pr_auc(self):
        """Davis & Goadrich's PR interpolation: TP and P = TP + FP vary linearly between
        thresholds, precision does not."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increments = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)),
                                    np.maximum(tp[1:] + fn[1:], 0))
        return self._average(np.sum(increments, axis=0))

    def result(self):
        if self.curve == "PR" and self.summation_method == "interpolation":
            return float(self._interpolate_pr_auc())
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(self._average(np.sum((x[:-1] - x[1:]) * heights, axis=0)))

    def get_config(self):
        label_weights = None if self.label_weights is None else self.label_weights.tolist()
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": label_weights, "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = [float(t) for t in self._thresholds[1:-1]]
        return config


# -- lookup and serialisation ---------------------------------------------------------

_CLASSES = (Mean, MeanSquaredError, MeanAbsoluteError, Accuracy, BinaryAccuracy,
            CategoricalAccuracy, SparseCategoricalAccuracy, Precision, Recall, F1Score,
            FBetaScore, AUC, BinaryCrossentropy, CategoricalCrossentropy,
            SparseCategoricalCrossentropy)
_BY_CLASS = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME = dict(_BY_CLASS)
_BY_NAME.update({_snake_case(cls.__name__): cls for cls in _CLASSES})
_BY_NAME.update({"mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError,
                 "MAE": MeanAbsoluteError, "bce": BinaryCrossentropy,
                 "BCE": BinaryCrossentropy})
# Keras 3 metrics that gru_py does not have yet: NotImplementedError rather than "unknown".
_NOT_YET = {
    "Sum", "RootMeanSquaredError", "MeanAbsolutePercentageError", "mape", "MAPE",
    "MeanSquaredLogarithmicError", "msle", "MSLE", "CosineSimilarity", "LogCoshError",
    "R2Score", "FalseNegatives", "FalsePositives", "TrueNegatives", "TruePositives",
    "PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity",
    "SpecificityAtSensitivity", "Hinge", "SquaredHinge", "CategoricalHinge", "KLDivergence",
    "Poisson", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "IoU", "BinaryIoU",
    "MeanIoU", "OneHotIoU", "OneHotMeanIoU",
}
_NOT_YET |= {_snake_case(name) for name in _NOT_YET}
_BY_SHAPE = ("accuracy", "acc")


def _known_names():
    return sorted(set(_BY_NAME) | set(_BY_SHAPE))


def _accuracy_by_shapes(identifier, y_true, y_pred):
    """Keras 3's compile rule for 'accuracy' / 'acc' (API_SPEC 4.6)."""
    true_shape, pred_shape = np.shape(y_true), np.shape(y_pred)
    if not true_shape or not pred_shape:
        raise ValueError(f"metric {identifier!r}: y_true and y_pred need at least one axis "
                         f"to choose the accuracy, got shapes {true_shape} and {pred_shape}")
    if pred_shape[-1] == 1:
        return BinaryAccuracy(name=identifier)
    if len(true_shape) < len(pred_shape) or true_shape[-1] == 1:
        return SparseCategoricalAccuracy(name=identifier)
    return CategoricalAccuracy(name=identifier)


def get(identifier, y_true=None, y_pred=None):
    """Resolves a metric identifier as Keras 3's compile does.

    Args:
        identifier: None; ``"accuracy"`` / ``"acc"`` (chosen from the shapes of y_true
            and y_pred, which are then required); a class name (``"Precision"``), its
            snake-case form (``"binary_accuracy"``) or an alias (``"mse"``, ``"mae"``,
            ``"bce"``); a config dict ``{"class_name": ..., "config": {...}}``; a Metric
            class or instance; or a callable ``fn(y_true, y_pred)`` returning per-sample
            values (wrapped in :class:`MeanMetricWrapper`).
        y_true, y_pred: arrays (or objects with ``.shape``) of one batch; needed for
            ``"accuracy"``.

    Returns:
        A Metric (named by the string when given a string), or None for None.

    Raises:
        ValueError: unknown identifier (the message lists the known names), or
            ``"accuracy"`` without y_true and y_pred.
        NotImplementedError: a Keras metric gru_py does not have yet.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in _BY_SHAPE:
            if y_true is None or y_pred is None:
                raise ValueError(
                    f"metric {identifier!r} is chosen from the shapes of the targets and "
                    "predictions (binary, sparse categorical or categorical accuracy): pass "
                    "y_true and y_pred to get(), or name the metric")
            return _accuracy_by_shapes(identifier, y_true, y_pred)
        cls = _BY_NAME.get(identifier)
        if cls is None:
            if identifier in _NOT_YET:
                raise NotImplementedError(
                    f"metric {identifier!r} is not supported yet; available: {_known_names()}")
            raise ValueError(f"Could not interpret metric identifier {identifier!r}; known "
                             f"names: {_known_names()}")
        return cls(name=identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier {identifier!r}")


def serialize(metric):
    """``{"class_name": ..., "config": ...}`` for a built-in Metric; a function (or a
    wrapper of one) in Keras' form ``{"class_name": "function", "config": name}``."""
    if metric is None:
        return None
    if type(metric) is MeanMetricWrapper:
        metric = metric._fn
        if isinstance(metric, losses.Loss):
            return {"class_name": "function", "config": metric.name}
    if isinstance(metric, Metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    if callable(metric):
        return {"class_name": "function", "config": getattr(metric, "__name__", repr(metric))}
    raise ValueError(f"cannot serialise metric {metric!r}")


def deserialize(config, custom_objects=None):
    """The inverse of :func:`serialize`; a name is accepted too (except "accuracy",
    which needs shapes: use get).

    Args:
        config: ``{"class_name": ..., "config": {...}}``, the function form, or a name.
        custom_objects: optional dict from names to custom Metric classes or functions.
    """
    custom_objects = custom_objects or {}
    if isinstance(config, str):
        return get(custom_objects.get(config, config))
    if not isinstance(config, dict):
        raise ValueError(f"metric config must be a dict or a name, got {config!r}")
    class_name = config.get("class_name")
    if class_name == "function":
        return deserialize(config.get("config"), custom_objects)
    return from_class_config("metric", config, _BY_CLASS, _CLASSES, custom_objects)


__all__ = [
    "AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "CategoricalAccuracy",
    "CategoricalCrossentropy", "F1Score", "FBetaScore", "Mean", "MeanAbsoluteError",
    "MeanMetricWrapper", "MeanSquaredError", "Metric", "Precision", "Recall",
    "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy", "accuracy",
    "binary_accuracy", "categorical_accuracy", "deserialize", "get", "serialize",
    "sparse_categorical_accuracy",
]
