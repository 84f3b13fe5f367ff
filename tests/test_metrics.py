"""Tests of gru_py.metrics against Keras 3's definitions (API_SPEC 4.6, 6): accumulation
over several batches against NumPy, the shape-based resolution of 'accuracy', and
Precision / Recall / F1 / AUC against hand-computed values, including AUC against the
exact trapezoidal ROC area."""

import json

import numpy as np
import pytest

from gru_py import losses, metrics
from gru_py.metrics import (
    AUC,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    F1Score,
    FBetaScore,
    Mean,
    MeanAbsoluteError,
    MeanMetricWrapper,
    MeanSquaredError,
    Precision,
    Recall,
    SparseCategoricalAccuracy,
)

SEED = 97


def _rng(offset=0):
    return np.random.default_rng(SEED + offset)


def batches(arrays, size):
    """Splits aligned arrays (None allowed) into batches of `size` rows."""
    n = len(arrays[0])
    for start in range(0, n, size):
        yield [None if a is None else a[start:start + size] for a in arrays]


def accumulate(metric, y, p, sw=None, size=7):
    metric.reset_state()
    for yb, pb, wb in batches([y, p, sw], size):
        metric.update_state(yb, pb, sample_weight=wb)
    return metric.result()


def weighted_mean(per_sample, sw=None):
    if sw is None:
        return per_sample.mean()
    return (per_sample * sw).sum() / sw.sum()


# -- Mean -----------------------------------------------------------------------------------


def test_mean_unweighted_and_weighted():
    m = Mean()
    m.update_state([1, 3, 5, 7])
    assert m.result() == 4.0
    m.reset_state()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == 2.0
    assert m.get_config() == {"name": "mean", "dtype": "float32"}
    assert Mean().result() == 0.0


def test_mean_of_batch_losses_weighted_by_batch_size():
    """How a model logs its loss: a scalar per batch, weighted by the batch size."""
    m = Mean(name="loss")
    for value, count in ((0.5, 32), (0.25, 32), (1.0, 8)):
        m.update_state(value, sample_weight=count)
    assert m.result() == pytest.approx((0.5 * 32 + 0.25 * 32 + 1.0 * 8) / 72)


@pytest.mark.parametrize("weight", [None, 32, 0.75, 0])
def test_mean_of_python_numbers_is_the_general_paths_arithmetic(weight):
    """A Python float (fit's loss, once a batch) takes a path without NumPy; it must add
    exactly what a NumPy scalar of the same value adds through the general path."""
    fast, general = Mean(), Mean()
    for value in (0.1, 2.5e-8, 3.0, float("nan")):
        fast.update_state(value, sample_weight=weight)
        general.update_state(np.float64(value),
                             sample_weight=None if weight is None else np.float64(weight))
        assert (fast.count, str(fast.total)) == (general.count, str(general.total))


def test_mean_of_per_timestep_values():
    values = _rng(1).random((6, 4))
    sw = _rng(2).random(6)
    m = Mean()
    m.update_state(values)
    assert m.result() == pytest.approx(values.mean())
    m.reset_state()
    m.update_state(values, sample_weight=sw)  # each sample's mean, weighted
    assert m.result() == pytest.approx(weighted_mean(values.mean(axis=1), sw))
    full = _rng(3).random((6, 4))
    m.reset_state()
    m.update_state(values, sample_weight=full)  # Keras: per-sample means of v*w and of w
    assert m.result() == pytest.approx((values * full).mean(axis=1).sum() / full.mean(axis=1).sum())


# -- regression metrics ------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(30, 3), (30, 4, 2)], ids=["2d", "temporal"])
def test_mse_mae_accumulate_over_batches(shape, weighted):
    rng = _rng(4)
    y, p = rng.normal(size=shape), rng.normal(size=shape)
    sw = rng.random(shape[0]) if weighted else None
    per_sample_se = ((y - p) ** 2).mean(axis=-1).reshape(shape[0], -1).mean(axis=1)
    per_sample_ae = np.abs(y - p).mean(axis=-1).reshape(shape[0], -1).mean(axis=1)
    assert accumulate(MeanSquaredError(), y, p, sw) == pytest.approx(
        weighted_mean(per_sample_se, sw))
    assert accumulate(MeanAbsoluteError(), y, p, sw) == pytest.approx(
        weighted_mean(per_sample_ae, sw))


def test_crossentropy_metrics_average_the_loss_functions():
    rng = _rng(5)
    labels = rng.integers(0, 4, size=20)
    p = rng.uniform(0.1, 1.0, size=(20, 4))
    sw = rng.random(20)
    expected = losses.sparse_categorical_crossentropy(labels, p).astype(np.float64)
    assert accumulate(metrics.SparseCategoricalCrossentropy(), labels, p, sw) == \
        pytest.approx(weighted_mean(expected, sw), rel=1e-6)
    onehot = np.eye(4)[labels]
    assert accumulate(metrics.CategoricalCrossentropy(), onehot, p) == \
        pytest.approx(expected.mean(), rel=1e-6)
    yb = rng.integers(0, 2, size=(20, 3)).astype(float)
    pb = rng.uniform(0.05, 0.95, size=(20, 3))
    assert accumulate(metrics.BinaryCrossentropy(), yb, pb) == pytest.approx(
        losses.binary_crossentropy(yb, pb).mean(), rel=1e-6)


# -- accuracies -----------------------------------------------------------------------------


def test_accuracy_metrics_keras_examples():
    m = Accuracy()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert m.result() == 0.75
    b = BinaryAccuracy()
    b.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert b.result() == 0.75
    b.reset_state()
    b.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert b.result() == 0.5
    c = CategoricalAccuracy()
    c.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
                   sample_weight=[0.7, 0.3])
    assert c.result() == pytest.approx(0.3)
    s = SparseCategoricalAccuracy()
    s.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    assert s.result() == 0.5


@pytest.mark.parametrize("weighted", [False, True])
def test_accuracies_accumulate_over_batches(weighted):
    rng = _rng(6)
    n, classes = 45, 5
    sw = rng.random(n) if weighted else None
    labels = rng.integers(0, classes, size=n)
    scores = rng.random((n, classes))
    hits = (np.argmax(scores, axis=1) == labels).astype(float)
    assert accumulate(SparseCategoricalAccuracy(), labels, scores, sw) == pytest.approx(
        weighted_mean(hits, sw))
    assert accumulate(SparseCategoricalAccuracy(), labels[:, None], scores, sw) == \
        pytest.approx(weighted_mean(hits, sw))
    assert accumulate(CategoricalAccuracy(), np.eye(classes)[labels], scores, sw) == \
        pytest.approx(weighted_mean(hits, sw))
    y_bin = rng.integers(0, 2, size=(n, 3)).astype(float)
    p_bin = rng.random((n, 3))
    per_sample = ((p_bin > 0.7) == y_bin).mean(axis=1)
    assert accumulate(BinaryAccuracy(threshold=0.7), y_bin, p_bin, sw) == pytest.approx(
        weighted_mean(per_sample, sw))
    y_int = rng.integers(0, 3, size=(n, 2))
    p_int = rng.integers(0, 3, size=(n, 2))
    assert accumulate(Accuracy(), y_int, p_int, sw) == pytest.approx(
        weighted_mean((y_int == p_int).mean(axis=1), sw))


def test_temporal_sparse_accuracy():
    rng = _rng(7)
    labels = rng.integers(0, 4, size=(10, 6))
    scores = rng.random((10, 6, 4))
    hits = np.argmax(scores, axis=-1) == labels
    sw = rng.random((10, 6))
    assert accumulate(SparseCategoricalAccuracy(), labels, scores) == pytest.approx(hits.mean())
    assert accumulate(SparseCategoricalAccuracy(), labels, scores, sw) == pytest.approx(
        (hits * sw).mean(axis=1).sum() / sw.mean(axis=1).sum())


def test_binary_accuracy_threshold_is_strict():
    b = BinaryAccuracy(threshold=0.5)
    b.update_state([1.0, 0.0], [0.5, 0.5])
    assert b.result() == 0.5  # 0.5 is not > 0.5
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            BinaryAccuracy(threshold=bad)


# -- 'accuracy' resolution (API_SPEC 4.6) ---------------------------------------------------


@pytest.mark.parametrize("y_shape, p_shape, cls", [
    ((16, 1), (16, 1), BinaryAccuracy),  # binary, labels (N, 1)
    ((16,), (16, 1), BinaryAccuracy),  # binary, labels (N,)
    ((16, 4), (16, 1), BinaryAccuracy),  # pred's last dim decides first
    ((16,), (16, 10), SparseCategoricalAccuracy),  # integer labels
    ((16, 1), (16, 10), SparseCategoricalAccuracy),  # integer labels (N, 1)
    ((16, 10), (16, 10), CategoricalAccuracy),  # one-hot
    ((4, 7), (4, 7, 10), SparseCategoricalAccuracy),  # temporal integer labels
    ((4, 7, 10), (4, 7, 10), CategoricalAccuracy),  # temporal one-hot
    ((4, 7, 1), (4, 7, 1), BinaryAccuracy),  # temporal binary
])
def test_accuracy_is_resolved_from_shapes(y_shape, p_shape, cls):
    # Keras compares str(identifier).lower(), so "Accuracy" as a string resolves by shape
    # too; only the Accuracy class itself is the exact-match metric.
    y, p = np.zeros(y_shape), np.zeros(p_shape)
    for identifier in ("accuracy", "acc", "ACC", "Accuracy"):
        metric = metrics.get(identifier, y_true=y, y_pred=p)
        assert type(metric) is cls
        assert metric.name == identifier  # the display name is the string passed
    assert type(metrics.get(Accuracy, y, p)) is Accuracy


def test_accuracy_needs_shapes():
    with pytest.raises(ValueError, match="shapes"):
        metrics.get("accuracy")
    with pytest.raises(ValueError, match="shapes"):
        metrics.get("acc", y_true=np.zeros((4,)))


def test_resolved_accuracy_computes_the_right_thing():
    labels = np.array([0, 2, 1, 1])
    scores = np.array([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1]])
    metric = metrics.get("accuracy", y_true=labels, y_pred=scores)
    metric.update_state(labels, scores)
    assert metric.result() == 0.75
    y = np.array([[1.0], [0.0], [1.0]])
    p = np.array([[0.8], [0.7], [0.1]])
    binary = metrics.get("acc", y_true=y, y_pred=p)
    binary.update_state(y, p)
    assert binary.result() == pytest.approx(1 / 3)


# -- Precision / Recall ---------------------------------------------------------------------


def test_precision_recall_keras_examples():
    p = Precision()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert p.result() == pytest.approx(2 / 3)
    p.reset_state()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert p.result() == 1.0
    top2 = Precision(top_k=2)
    top2.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert top2.result() == 0.0
    top4 = Precision(top_k=4)
    top4.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert top4.result() == 0.5
    r = Recall()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert r.result() == pytest.approx(2 / 3)


def test_precision_recall_hand_computed_over_batches():
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0, 1, 1], dtype=float)
    p = np.array([0.9, 0.6, 0.55, 0.2, 0.4, 0.8, 0.51, 0.1, 0.3, 0.7])
    w = np.array([1, 2, 1, 1, 3, 1, 1, 1, 1, 0.5])
    # threshold 0.5 (strict): predicted positive at 0, 1, 2, 5, 6, 9
    # tp = w[0] + w[1] + w[6] + w[9] = 4.5; fp = w[2] + w[5] = 2; fn = w[4] + w[8] = 4
    assert accumulate(Precision(), y, p, w, size=3) == pytest.approx(4.5 / 6.5)
    assert accumulate(Recall(), y, p, w, size=3) == pytest.approx(4.5 / 8.5)
    # unweighted, thresholds [0.35, 0.65]:
    # 0.35 -> positive 0,1,2,4,5,6,9: tp 5 (0,1,4,6,9), fp 2; fn 1 (8)
    # 0.65 -> positive 0,5,9: tp 2, fp 1; fn 4
    prec = accumulate(Precision(thresholds=[0.35, 0.65]), y, p, size=4)
    rec = accumulate(Recall(thresholds=[0.35, 0.65]), y, p, size=4)
    assert isinstance(prec, np.ndarray) and prec.shape == (2,)
    np.testing.assert_allclose(prec, [5 / 7, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(rec, [5 / 6, 2 / 6], rtol=1e-6)


def test_precision_recall_class_id_and_top_k():
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1]], dtype=float)
    p = np.array([[0.8, 0.6, 0.1], [0.3, 0.4, 0.6], [0.2, 0.1, 0.9], [0.4, 0.7, 0.2],
                  [0.1, 0.9, 0.8]])
    # class 1 at 0.5: predicted at rows 0, 3, 4; true at rows 1, 4 -> tp 1, fp 2, fn 1
    assert accumulate(Precision(class_id=1), y, p, size=2) == pytest.approx(1 / 3)
    assert accumulate(Recall(class_id=1), y, p, size=2) == pytest.approx(1 / 2)
    # top_k=1 (threshold -inf on the kept entry): the argmax of each row is positive
    # argmax: 0, 2, 2, 1, 1 -> correct for rows 0, 2, 4: tp 3, fp 2; fn = 6 labels - 3
    assert accumulate(Precision(top_k=1), y, p, size=2) == pytest.approx(3 / 5)
    assert accumulate(Recall(top_k=1), y, p, size=2) == pytest.approx(3 / 6)
    # top_k=2 with class_id=2: class 2 is in the top 2 of rows 1, 2, 4 and true in rows
    # 2, 4 -> precision 2/3, recall 2/2
    assert accumulate(Precision(top_k=2, class_id=2), y, p) == pytest.approx(2 / 3)
    assert accumulate(Recall(top_k=2, class_id=2), y, p) == 1.0
    with pytest.raises(ValueError, match="class_id"):
        Precision(class_id=0).update_state([1, 0], [0.3, 0.6])


def test_precision_threshold_errors_and_config():
    with pytest.raises(ValueError, match="Threshold"):
        Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="Threshold"):
        Recall(thresholds=[0.2, -0.1])
    config = Precision(thresholds=[0.3, 0.6], class_id=2, name="p").get_config()
    assert config == {"name": "p", "dtype": "float32", "thresholds": [0.3, 0.6],
                      "top_k": None, "class_id": 2}
    assert Precision().name == "precision" and Recall().name == "recall"
    assert Precision().result() == 0.0


# -- F1 ------------------------------------------------------------------------------------------


F1_Y = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], dtype=float)
F1_P = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])


def test_f1_keras_example_and_averages():
    # threshold 0.5, per class: (tp, fp, fn) = (1, 0, 2), (2, 1, 0), (1, 1, 0)
    per_class = [2 * 1 / (2 * 1 + 0 + 2), 2 * 2 / (2 * 2 + 1 + 0), 2 * 1 / (2 * 1 + 1 + 0)]
    f1 = F1Score(threshold=0.5)
    f1.update_state(F1_Y, F1_P)
    result = f1.result()
    assert isinstance(result, np.ndarray) and result.shape == (3,)
    np.testing.assert_allclose(result, per_class, atol=1e-6)  # Keras: [0.5, 0.8, 0.6667]
    macro = F1Score(average="macro", threshold=0.5)
    macro.update_state(F1_Y, F1_P)
    assert macro.result() == pytest.approx(np.mean(per_class), abs=1e-6)
    weighted = F1Score(average="weighted", threshold=0.5)
    weighted.update_state(F1_Y, F1_P)
    support = F1_Y.sum(axis=0)  # 3, 2, 1
    assert weighted.result() == pytest.approx((per_class * support).sum() / support.sum(),
                                              abs=1e-6)
    micro = F1Score(average="micro", threshold=0.5)
    micro.update_state(F1_Y, F1_P)
    tp, fp, fn = 4, 2, 2
    assert micro.result() == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-6)
    fbeta = FBetaScore(beta=2.0, threshold=0.5)
    fbeta.update_state(F1_Y, F1_P)
    np.testing.assert_allclose(fbeta.result(), [0.3846154, 0.90909094, 0.8333334], atol=1e-6)


def test_f1_argmax_threshold_weights_and_batches():
    rng = _rng(8)
    n, classes = 40, 4
    labels = rng.integers(0, classes, size=n)
    y = np.eye(classes)[labels]
    p = rng.random((n, classes))
    sw = rng.random(n)
    pred = np.eye(classes)[np.argmax(p, axis=1)]
    tp = ((pred * y) * sw[:, None]).sum(axis=0)
    fp = ((pred * (1 - y)) * sw[:, None]).sum(axis=0)
    fn = (((1 - pred) * y) * sw[:, None]).sum(axis=0)
    expected = 2 * tp / (2 * tp + fp + fn)
    np.testing.assert_allclose(accumulate(F1Score(), y, p, sw, size=9), expected, atol=1e-6)
    # a row of zeros marks nothing positive
    zero = F1Score()
    zero.update_state(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]]))
    np.testing.assert_allclose(zero.result(), [0.0, 0.0])


def test_f1_errors_and_config():
    with pytest.raises(ValueError, match="average"):
        F1Score(average="samples")
    with pytest.raises(ValueError, match="threshold"):
        F1Score(threshold=0.0)
    with pytest.raises(ValueError, match="2D"):
        F1Score().update_state([1, 0], [0.3, 0.6])
    assert F1Score(average="macro").get_config() == {
        "name": "f1_score", "dtype": "float32", "average": "macro", "threshold": None}
    assert F1Score().result() == 0.0  # nothing seen yet


# -- AUC -------------------------------------------------------------------------------------


def test_auc_keras_example():
    m = AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)
    assert m.thresholds == pytest.approx([-1e-7, 0.5, 1 + 1e-7])
    assert AUC().name == "auc"


def exact_roc_auc(y, scores, w=None):
    """The exact area under the ROC curve: the trapezoid rule through every vertex of the
    empirical curve, which equals the probability that a positive outscores a negative
    (ties count 1/2), i.e. the Mann-Whitney statistic."""
    w = np.ones(len(y)) if w is None else w
    pos, neg = y == 1, y == 0
    sp, sn = scores[pos][:, None], scores[neg][None, :]
    pair_w = w[pos][:, None] * w[neg][None, :]
    wins = (sp > sn) + 0.5 * (sp == sn)
    return (wins * pair_w).sum() / pair_w.sum()


def _keras_buckets(scores, num_thresholds=200):
    p = np.clip(scores.astype(np.float32), 0, 1)
    return np.maximum(np.ceil(p * np.float32(num_thresholds - 1)).astype(int) - 1, 0)


def test_auc_equals_exact_roc_when_buckets_do_not_mix_classes():
    """With 200 thresholds the ROC points at the thresholds are exact, and the trapezoid
    between two consecutive points is exact when the predictions between them all have
    the same label. One prediction per bucket guarantees that, so the areas agree."""
    rng = _rng(9)
    buckets = rng.permutation(199)[:120]
    scores = (buckets + rng.uniform(0.2, 0.8, size=120)) / 199  # one score per bucket
    y = rng.integers(0, 2, size=120).astype(float)
    w = rng.uniform(0.5, 2.0, size=120)
    assert len(set(_keras_buckets(scores))) == 120
    assert accumulate(AUC(), y, scores, size=25) == pytest.approx(exact_roc_auc(y, scores),
                                                                  abs=1e-9)
    assert accumulate(AUC(), y, scores, w, size=25) == pytest.approx(
        exact_roc_auc(y, scores, w), abs=1e-9)


def test_auc_approximates_exact_roc_within_1e3():
    """On 500 scores spread over [0, 1] several predictions share a bucket (1/199 wide).
    The interpolated AUC then scores every positive/negative pair inside one bucket as a
    tie (1/2), while the exact area scores it 1 or 0 by the order within the bucket. So
    AUC_keras = (wins between buckets + ties within buckets / 2) / (P N) exactly, and
    |AUC_keras - AUC_exact| <= (1/2) sum_b pos_b neg_b / (P N): about 1/2 of the 1/199
    of pairs that share a bucket, ~2.5e-3 at most, and far less in practice because the
    orders inside a bucket are close to half right. We check all three facts."""
    rng = _rng(10)
    n = 500
    y = (rng.random(n) < 0.4).astype(float)
    scores = np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(scale=0.2, size=n), 0, 1)
    keras_auc = accumulate(AUC(), y, scores, size=64)
    exact = exact_roc_auc(y, scores)
    buckets = _keras_buckets(scores)
    assert keras_auc == pytest.approx(exact_roc_auc(y, buckets.astype(float)), abs=1e-9)
    pos_b = np.bincount(buckets[y == 1], minlength=200)
    neg_b = np.bincount(buckets[y == 0], minlength=200)
    bound = 0.5 * (pos_b * neg_b).sum() / (pos_b.sum() * neg_b.sum())
    assert abs(keras_auc - exact) <= bound + 1e-12
    assert abs(keras_auc - exact) < 1e-3
    assert 0.7 < exact < 0.95  # informative scores, not a degenerate case


def test_auc_from_logits_and_summation_methods():
    rng = _rng(11)
    y = rng.integers(0, 2, size=60).astype(float)
    logits = rng.normal(size=60) + y
    with_logits = accumulate(AUC(from_logits=True), y, logits)
    on_probs = accumulate(AUC(), y, 1 / (1 + np.exp(-logits)))
    assert with_logits == pytest.approx(on_probs, abs=1e-12)
    lower = accumulate(AUC(summation_method="minoring"), y, 1 / (1 + np.exp(-logits)))
    upper = accumulate(AUC(summation_method="majoring"), y, 1 / (1 + np.exp(-logits)))
    assert lower <= on_probs <= upper
    assert upper - lower > 0


def test_auc_pr_hand_computed():
    # thresholds [-eps, 0.5, 1 + eps]; y = [0, 0, 1, 1], p = [0, 0.5, 0.3, 0.9]
    # tp = [2, 1, 0], fp = [2, 0, 0], fn = [0, 1, 2]
    y, p = [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]
    # minoring: x = recall [1, 0.5, 0], y = precision [0.5, 1, 0]
    # areas: (1 - 0.5) * min(0.5, 1) + (0.5 - 0) * min(1, 0) = 0.25
    m = AUC(num_thresholds=3, curve="PR", summation_method="minoring")
    m.update_state(y, p)
    assert m.result() == pytest.approx(0.25)
    m = AUC(num_thresholds=3, curve="PR", summation_method="majoring")
    m.update_state(y, p)
    assert m.result() == pytest.approx(0.5 * 1 + 0.5 * 1)
    # interpolation (Davis & Goadrich): interval 1: dtp = 1, P from 4 to 1, slope 1/3,
    # intercept 1 - 1/3 = 2/3: (1/3) (1 + (2/3) log 4) / 2; interval 2: P_B = 0, so the
    # log term drops: slope 1 (dtp 1 / dp 1) * 1 / 2
    expected = (1 / 3) * (1 + (2 / 3) * np.log(4)) / 2 + 1 * 1 / 2
    m = AUC(num_thresholds=3, curve="PR")
    m.update_state(y, p)
    assert m.result() == pytest.approx(expected)


def test_auc_custom_thresholds_and_multi_label():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]], dtype=float)
    p = np.array([[0.9, 0.2], [0.3, 0.8], [0.6, 0.4], [0.2, 0.5], [0.4, 0.1], [0.7, 0.9]])
    # Uneven thresholds: predictions at the thresholds' own values count as negative.
    custom = AUC(thresholds=[0.3, 0.65])
    custom.update_state(y, p)
    flat_y, flat_p = y.ravel(), p.ravel()
    ts = [-1e-7, 0.3, 0.65, 1 + 1e-7]
    tpr = [((flat_p > t) & (flat_y == 1)).sum() / 6 for t in ts]
    fpr = [((flat_p > t) & (flat_y == 0)).sum() / 6 for t in ts]
    expected = sum((fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2 for i in range(3))
    assert custom.result() == pytest.approx(expected)
    assert custom.get_config()["thresholds"] == [0.3, 0.65]
    # multi_label: one AUC per column, averaged (optionally weighted)
    per_label = []
    for j in range(2):
        single = AUC()
        single.update_state(y[:, j], p[:, j])
        per_label.append(single.result())
    multi = AUC(multi_label=True)
    assert accumulate(multi, y, p, size=4) == pytest.approx(np.mean(per_label))
    weighted = AUC(multi_label=True, label_weights=[3.0, 1.0], num_labels=2)
    weighted.update_state(y, p)
    assert weighted.result() == pytest.approx((3 * per_label[0] + per_label[1]) / 4)


def test_auc_errors():
    with pytest.raises(ValueError, match="num_thresholds"):
        AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="curve"):
        AUC(curve="PRGAIN")
    with pytest.raises(ValueError, match="summation"):
        AUC(summation_method="simpson")
    with pytest.raises(ValueError, match="num_labels"):
        AUC(num_labels=3)
    with pytest.raises(ValueError, match="rank 2"):
        AUC(multi_label=True).update_state([1, 0], [0.2, 0.7])


# -- get / serialize / misc ------------------------------------------------------------------


@pytest.mark.parametrize("name, cls", [
    ("mse", MeanSquaredError), ("MSE", MeanSquaredError),
    ("mean_squared_error", MeanSquaredError), ("MeanSquaredError", MeanSquaredError),
    ("mae", MeanAbsoluteError), ("mean_absolute_error", MeanAbsoluteError),
    ("binary_accuracy", BinaryAccuracy), ("categorical_accuracy", CategoricalAccuracy),
    ("sparse_categorical_accuracy", SparseCategoricalAccuracy),
    ("precision", Precision), ("Recall", Recall), ("auc", AUC), ("AUC", AUC),
    ("f1_score", F1Score), ("F1Score", F1Score), ("mean", Mean),
    ("bce", metrics.BinaryCrossentropy),
    ("sparse_categorical_crossentropy", metrics.SparseCategoricalCrossentropy),
])
def test_get_by_name(name, cls):
    metric = metrics.get(name)
    assert type(metric) is cls
    assert metric.name == name


def test_get_other_identifiers():
    assert metrics.get(None) is None
    instance = AUC(num_thresholds=50)
    assert metrics.get(instance) is instance
    assert type(metrics.get(Recall)) is Recall
    m = metrics.get({"class_name": "BinaryAccuracy", "config": {"threshold": 0.7}})
    assert m.threshold == 0.7

    def hit_rate(y_true, y_pred):
        return (np.asarray(y_true) == np.round(y_pred)).astype(float).mean(axis=-1)

    wrapped = metrics.get(hit_rate)
    assert isinstance(wrapped, MeanMetricWrapper) and wrapped.name == "hit_rate"
    wrapped.update_state(np.array([[1.0], [0.0]]), np.array([[0.8], [0.9]]))
    assert wrapped.result() == 0.5
    assert metrics.serialize(wrapped) == {"class_name": "function", "config": "hit_rate"}
    loss_metric = metrics.get(losses.MeanSquaredError())
    assert loss_metric.name == "mean_squared_error" and loss_metric._direction == "down"


def test_get_errors():
    with pytest.raises(ValueError, match=r"known names: .*binary_accuracy"):
        metrics.get("binary_acuracy")
    with pytest.raises(NotImplementedError, match="not supported yet"):
        metrics.get("RootMeanSquaredError")
    with pytest.raises(NotImplementedError, match="not supported yet"):
        metrics.get("top_k_categorical_accuracy")
    with pytest.raises(ValueError, match="Could not interpret"):
        metrics.get(3.5)
    with pytest.raises(NotImplementedError, match="float32"):
        Mean(dtype="float64")


ALL_METRICS = [
    Mean(name="m"), MeanSquaredError(), MeanAbsoluteError(), Accuracy(),
    BinaryAccuracy(threshold=0.3), CategoricalAccuracy(), SparseCategoricalAccuracy(),
    Precision(thresholds=[0.2, 0.4]), Recall(top_k=3, class_id=1), F1Score(average="micro"),
    FBetaScore(beta=0.5), AUC(num_thresholds=50, curve="PR", multi_label=True),
    AUC(thresholds=[0.1, 0.2]), metrics.BinaryCrossentropy(from_logits=True),
    metrics.CategoricalCrossentropy(label_smoothing=0.1),
    metrics.SparseCategoricalCrossentropy(from_logits=True),
]


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda m: type(m).__name__)
def test_serialize_round_trip(metric):
    config = json.loads(json.dumps(metrics.serialize(metric)))
    rebuilt = metrics.deserialize(config)
    assert type(rebuilt) is type(metric)
    assert rebuilt.get_config() == metric.get_config()


def test_call_updates_then_returns_result_and_reset():
    m = BinaryAccuracy()
    assert m([1, 0], [0.9, 0.8]) == 0.5
    assert m([1, 1], [0.9, 0.8]) == 0.75
    m.reset_state()
    assert m.result() == 0.0


def test_directions_for_callbacks():
    assert BinaryAccuracy()._direction == "up" and AUC()._direction == "up"
    assert MeanSquaredError()._direction == "down"
    assert not hasattr(Mean(), "_direction")  # unknown: callbacks decide by name
