"""Tests of masks (Keras 3 semantics): the Masking layer, Embedding(mask_zero=True), mask
propagation through Sequential and functional models (pass-through, dropped, merged and
recurrent masks), and masked losses, gradients and metrics in the training API, checked
against a float64 NumPy computation of the masked loss.

Dimension letters: N batch, T timesteps, F features, V vocabulary, D vector size,
C classes.
"""

import numpy as np
import pytest

import gru_py
from gru_py import layers, losses, metrics, optimizers
from gru_py.layers import (
    GRU,
    Activation,
    Add,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    Layer,
    Masking,
)
from gru_py.utils import set_random_seed

N, T, F, V, D, C = 4, 5, 3, 7, 3, 4
# float32 model vs float64 reference of the same formula.
LOSS_TOL = {"rel": 1e-5, "abs": 1e-7}  # for pytest.approx
GRAD_TOL = {"rtol": 1e-4, "atol": 1e-6}

# Token ids, 0 is padding: left-, right- and mixed-padded batches; MIXED has a fully
# masked row; EMPTY masks everything.
LEFT = np.array([[0, 0, 3, 4, 5], [0, 1, 2, 3, 4], [0, 0, 0, 6, 1], [0, 2, 2, 2, 2]])
RIGHT = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 0], [6, 1, 0, 0, 0], [2, 2, 2, 2, 2]])
MIXED = np.array([[0, 3, 0, 4, 0], [1, 2, 3, 4, 5], [0, 0, 0, 0, 0], [6, 0, 0, 2, 0]])
EMPTY = np.zeros((N, T), dtype=np.int64)
BATCHES = {"left": LEFT, "right": RIGHT, "mixed": MIXED}


@pytest.fixture(autouse=True)
def _seeded():
    set_random_seed(7)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _forward_masks(model, x):
    """The masks of a model's outputs for input x (inference mode)."""
    model._ensure_built([x])
    return model._forward([x], training=False)[1]


# -- the Masking layer -------------------------------------------------------------------


def _masking_input(mask_value):
    """(N, T, F) data where steps (0, 1), (2, 0), (2, 4) hold only mask_value and step
    (1, 2) holds it in one feature only (so it is kept)."""
    x = _rng(1).normal(size=(N, T, F)).astype(np.float32)
    for n, t in ((0, 1), (2, 0), (2, 4)):
        x[n, t] = mask_value
    x[1, 2, 0] = mask_value
    keep = np.ones((N, T), dtype=bool)
    keep[0, 1] = keep[2, 0] = keep[2, 4] = False
    return x, keep


@pytest.mark.parametrize("mask_value", [0.0, -1.0, 0.1])
def test_masking_zeroes_masked_steps_and_computes_the_mask(mask_value):
    x, keep = _masking_input(mask_value)
    layer = Masking(mask_value=mask_value)
    y = layer(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, np.where(keep[..., None], x, 0.0))
    mask = layer.compute_mask(x)
    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, keep)
    # An incoming mask is replaced, not combined (Keras).
    np.testing.assert_array_equal(layer.compute_mask(x, np.zeros((N, T), bool)), keep)


def test_masking_backward_passes_the_gradient_of_kept_steps_only():
    x, keep = _masking_input(0.0)
    layer = Masking()
    layer(x, training=True)
    d_out = _rng(2).normal(size=(N, T, F)).astype(np.float32)
    d_in = layer.backward(d_out)
    np.testing.assert_array_equal(d_in, np.where(keep[..., None], d_out, 0.0))
    # The layer is linear away from mask_value: the gradient is the exact derivative of
    # sum(output * d_out).
    probe = np.zeros_like(x)
    probe[1, 2, 1] = 1.0
    step = 2.0**-8
    slope = float(np.sum((layer(x + step * probe) - layer(x - step * probe)) * d_out)) / (2 * step)
    assert slope == pytest.approx(float(d_in[1, 2, 1]), rel=1e-5)


def test_masking_backward_without_training_call_raises():
    layer = Masking()
    layer(np.ones((N, T, F), np.float32))
    with pytest.raises(RuntimeError, match="training=True"):
        layer.backward(np.ones((N, T, F), np.float32))


@pytest.mark.parametrize("bad", ["0", None, True, float("nan"), [0.0], 1 + 2j])
def test_masking_rejects_a_bad_mask_value(bad):
    with pytest.raises(ValueError, match="mask_value must be a real number"):
        Masking(mask_value=bad)


def test_masking_rejects_inputs_without_a_features_axis():
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*got shape \(5,\)"):
        Masking()(np.zeros(5, np.float32))


def test_masking_config_round_trips():
    layer = Masking(mask_value=-1.5, name="pad")
    config = layer.get_config()
    assert config["mask_value"] == -1.5
    again = layers.deserialize(layers.serialize(layer))
    assert type(again) is Masking and again.mask_value == -1.5 and again.name == "pad"
    x, keep = _masking_input(-1.5)
    np.testing.assert_array_equal(again.compute_mask(x), keep)


def test_masking_is_exported_like_the_other_layers():
    assert gru_py.layers.Masking is Masking
    assert "Masking" in gru_py.layers.__all__
    assert gru_py.keras.layers.Masking is Masking


# -- Embedding(mask_zero=True) -------------------------------------------------------------


def test_embedding_mask_zero_computes_ids_not_zero():
    layer = Embedding(V, D, mask_zero=True)
    assert layer.supports_masking
    out = layer(MIXED)
    assert out.shape == (N, T, D)
    np.testing.assert_array_equal(layer.compute_mask(MIXED), MIXED != 0)
    # Id 0 is still looked up: only the mask marks it as padding.
    np.testing.assert_array_equal(out[2, 0], layer.get_weights()[0][0])


def test_embedding_without_mask_zero_makes_no_mask():
    layer = Embedding(V, D)
    assert not layer.supports_masking
    assert layer.compute_mask(MIXED) is None


def test_embedding_mask_zero_config_round_trips():
    layer = Embedding(V, D, mask_zero=True)
    config = layer.get_config()
    assert config["mask_zero"] is True
    again = Embedding.from_config(config)
    assert again.mask_zero is True and again.supports_masking
    assert Embedding.from_config(Embedding(V, D).get_config()).mask_zero is False


def test_embedding_rejects_a_non_boolean_mask_zero():
    with pytest.raises(ValueError, match="mask_zero must be True or False, got 'yes'"):
        Embedding(V, D, mask_zero="yes")


# -- which layers support masking -----------------------------------------------------------


@pytest.mark.parametrize("layer, supports", [
    (Dense(2), True), (Dropout(0.5), True), (Activation("relu"), True), (Add(), True),
    (Concatenate(), True), (Masking(), True), (GRU(2), True), (Flatten(), False),
    (layers.Reshape((2, 2)), False),
])
def test_supports_masking_follows_keras(layer, supports):
    assert layer.supports_masking is supports


def test_a_layer_with_its_own_compute_mask_supports_masking():
    class Plain(Layer):
        pass

    class MaskMaker(Layer):
        def compute_mask(self, inputs, mask=None):
            return np.ones(np.shape(inputs)[:2], bool)

    assert not Plain().supports_masking
    assert MaskMaker().supports_masking
    layer = Plain()
    layer.supports_masking = True
    assert layer.supports_masking


def test_pass_through_layers_return_the_input_mask():
    mask = MIXED != 0
    x = np.zeros((N, T, D), np.float32)
    for layer in (Dense(2), Dropout(0.3), Activation("tanh")):
        assert layer.compute_mask(x, mask) is mask
        assert layer.compute_mask(x, None) is None


# -- propagation in models --------------------------------------------------------------


def test_sequential_propagates_the_mask_through_pass_through_layers():
    model = gru_py.Sequential([Embedding(V, D, mask_zero=True), Dropout(0.2), Dense(C),
                               Activation("softmax")])
    (mask,) = _forward_masks(model, MIXED)
    np.testing.assert_array_equal(mask, MIXED != 0)


def test_sequential_propagates_the_masking_layers_mask():
    x, keep = _masking_input(0.0)
    model = gru_py.Sequential([Input((T, F)), Masking(), Dense(C)])
    (mask,) = _forward_masks(model, x)
    np.testing.assert_array_equal(mask, keep)


def test_a_layer_without_masking_support_drops_the_mask_with_a_warning():
    model = gru_py.Sequential([Embedding(V, D, mask_zero=True), Flatten(), Dense(1)])
    with pytest.warns(UserWarning, match="'flatten.*' \\(Flatten\\) does not support masking"):
        (mask,) = _forward_masks(model, MIXED)
    assert mask is None


def test_no_warning_when_no_mask_reaches_a_layer_without_support(recwarn):
    model = gru_py.Sequential([Embedding(V, D), Flatten(), Dense(1)])
    assert _forward_masks(model, MIXED) == [None]
    assert not [w for w in recwarn if "masking" in str(w.message)]


class _MaskRecorder(Layer):
    """An identity layer whose call takes a mask, and records it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.seen = []

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, mask=None, training=False):
        self.seen.append(mask)
        return inputs

    def backward(self, d_output):
        return d_output


def test_call_receives_the_mask_only_when_it_has_a_mask_parameter():
    recorder = _MaskRecorder()
    # Dense.call has no mask parameter: it must be called without one.
    model = gru_py.Sequential([Embedding(V, D, mask_zero=True), Dense(D), recorder])
    model.predict(MIXED, verbose=0)
    assert len(recorder.seen) == 1
    np.testing.assert_array_equal(recorder.seen[0], MIXED != 0)
    unmasked = _MaskRecorder()
    gru_py.Sequential([Embedding(V, D), unmasked]).predict(MIXED, verbose=0)
    assert unmasked.seen == [None]


def test_functional_model_propagates_masks_along_branches():
    ids = Input((None,), dtype="int32")
    embedded = Embedding(V, D, mask_zero=True)(ids)
    dense = Dense(C)(embedded)
    flat = Flatten()(dense)
    model = gru_py.Model(ids, [dense, flat])
    with pytest.warns(UserWarning, match="does not support masking"):
        dense_mask, flat_mask = _forward_masks(model, MIXED)
    np.testing.assert_array_equal(dense_mask, MIXED != 0)
    assert flat_mask is None


def _two_branch_model(merge, mask_zero_b=True):
    a, b = Input((T,), dtype="int32"), Input((T,), dtype="int32")
    ea = Embedding(V, D, mask_zero=True)(a)
    eb = Embedding(V, D, mask_zero=mask_zero_b)(b)
    return gru_py.Model([a, b], merge([ea, eb]))


def test_add_merges_masks_by_logical_or():
    model = _two_branch_model(Add())
    (mask,) = model._forward([LEFT, RIGHT], training=False)[1]
    np.testing.assert_array_equal(mask, (LEFT != 0) | (RIGHT != 0))


def test_add_gives_no_mask_when_one_input_has_none():
    model = _two_branch_model(Add(), mask_zero_b=False)
    assert model._forward([LEFT, RIGHT], training=False)[1] == [None]


def test_concatenate_on_features_merges_masks_and_treats_no_mask_as_all_kept():
    (mask,) = _two_branch_model(Concatenate())._forward([LEFT, MIXED], training=False)[1]
    np.testing.assert_array_equal(mask, (LEFT != 0) | (MIXED != 0))
    (unmasked,) = _two_branch_model(Concatenate(), mask_zero_b=False)._forward(
        [LEFT, MIXED], training=False)[1]
    np.testing.assert_array_equal(unmasked, np.ones((N, T), bool))


def test_concatenate_on_time_joins_the_masks():
    (mask,) = _two_branch_model(Concatenate(axis=1))._forward([LEFT, MIXED], training=False)[1]
    np.testing.assert_array_equal(mask, np.concatenate([LEFT != 0, MIXED != 0], axis=1))


@pytest.mark.parametrize("merge", [Add(), Concatenate()])
def test_merge_compute_mask_checks_its_arguments(merge):
    x = [np.zeros((N, T, D), np.float32)] * 2
    assert merge.compute_mask(x, None) is None
    assert merge.compute_mask(x, [None, None]) is None
    with pytest.raises(ValueError, match="lists of the same length"):
        merge.compute_mask(x, LEFT != 0)
    with pytest.raises(ValueError, match="lists of the same length"):
        merge.compute_mask(x, [LEFT != 0])


def test_concatenate_rejects_a_mask_that_does_not_fit_its_input():
    x = [np.zeros((N, T, D), np.float32)] * 2
    with pytest.raises(ValueError, match=r"got mask shape \(4, 3\) for input shape \(4, 5, 3\)"):
        Concatenate().compute_mask(x, [np.ones((N, 3), bool), None])


@pytest.mark.parametrize("return_sequences, return_state", [
    (True, False), (False, False), (True, True), (False, True)])
def test_rnn_compute_mask(return_sequences, return_state):
    layer = GRU(2, return_sequences=return_sequences, return_state=return_state)
    mask = MIXED != 0
    out = layer.compute_mask(np.zeros((N, T, F), np.float32), mask)
    expected = mask if return_sequences else None
    if return_state:
        assert isinstance(out, list) and len(out) == 2 and out[1] is None
        out = out[0]
    assert out is expected


def test_rnn_compute_mask_of_a_stack_has_one_none_per_state():
    cells = [gru_py.layers.GRUCell(2), gru_py.layers.GRUCell(3)]
    layer = gru_py.layers.RNN(cells, return_sequences=True, return_state=True)
    mask = MIXED != 0
    assert layer.compute_mask(None, mask)[0] is mask
    assert layer.compute_mask(None, mask)[1:] == [None, None]


@pytest.mark.parametrize("return_sequences", [True, False])
def test_a_recurrent_layer_in_a_model_receives_the_mask(return_sequences):
    inputs = Input((T, F))
    gru = GRU(2, return_sequences=return_sequences)
    model = gru_py.Model(inputs, Dense(1)(gru(Masking()(inputs))))
    seen = []

    def spy(sequences, initial_state=None, mask=None, training=False):
        # Stands in for the recurrence: only the mask it is given matters here.
        seen.append(mask)
        shape = sequences.shape[:2] if return_sequences else sequences.shape[:1]
        return np.zeros(shape + (2,), np.float32)

    gru.call = spy
    x, keep = _masking_input(0.0)
    (mask,) = _forward_masks(model, x)
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], keep)
    if return_sequences:
        np.testing.assert_array_equal(mask, keep)
    else:
        assert mask is None


def test_an_unmasked_recurrent_layer_is_called_with_mask_none():
    model = gru_py.Sequential([Input((T, F)), GRU(2), Dense(1)])
    assert model.predict(np.ones((N, T, F), np.float32), verbose=0).shape == (N, 1)


def test_passing_mask_to_a_layer_in_a_functional_model_is_rejected():
    inputs = Input((T, F))
    mask = Input((T,), dtype="bool")
    with pytest.raises(NotImplementedError, match="passing mask= to a layer"):
        GRU(2)(inputs, mask=mask)


# -- masked losses and gradients -------------------------------------------------------------


def _masked_reference(weights, ids, y, loss, reduction, sample_weight=None):
    """float64 loss and gradients of [embeddings, kernel, bias] for Embedding ->
    Dense(C) with the loss taken only over the steps where ids != 0."""
    table, kernel, bias = (np.asarray(w, np.float64) for w in weights)
    e = table[ids]
    z = e @ kernel + bias
    if loss == "scce":  # sparse categorical crossentropy from logits, y: (N, T) labels
        z_max = z.max(axis=-1, keepdims=True)
        log_p = z - z_max - np.log(np.exp(z - z_max).sum(axis=-1, keepdims=True))
        per_step = -np.take_along_axis(log_p, y[..., None], axis=-1)[..., 0]
        d_step = np.exp(log_p) - np.eye(C)[y]
    else:  # mse, y: (N, T, C)
        per_step = ((z - y) ** 2).mean(axis=-1)
        d_step = 2.0 * (z - y) / C
    kept = (ids != 0).astype(np.float64)
    w = kept if sample_weight is None else kept * np.asarray(sample_weight, np.float64)[:, None]
    if reduction in ("sum_over_batch_size", "mean"):
        scale = 1.0 / kept.sum() if kept.sum() else 0.0
    elif reduction == "sum":
        scale = 1.0
    else:  # mean_with_sample_weight
        scale = 1.0 / w.sum() if w.sum() else 0.0
    value = scale * float((w * per_step).sum())
    dz = d_step * (scale * w)[..., None]
    d_table = np.zeros_like(table)
    np.add.at(d_table, ids.reshape(-1), (dz @ kernel.T).reshape(-1, D))
    return value, [d_table, np.einsum("ntd,ntc->dc", e, dz), dz.sum(axis=(0, 1))]


def _embedding_dense(kind="sequential"):
    if kind == "sequential":
        model = gru_py.Sequential([Embedding(V, D, mask_zero=True), Dense(C)])
        model.build((None, T))
    else:
        ids = Input((None,), dtype="int32")
        model = gru_py.Model(ids, Dense(C)(Embedding(V, D, mask_zero=True)(ids)))
    rng = _rng(3)
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    return model


def _targets(loss, seed=4):
    rng = _rng(seed)
    if loss == "scce":
        return rng.integers(0, C, size=(N, T))
    return rng.normal(size=(N, T, C)).astype(np.float32)


def _loss_object(loss, reduction="sum_over_batch_size"):
    if loss == "scce":
        return losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    return losses.MeanSquaredError(reduction=reduction)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("loss", ["scce", "mse"])
@pytest.mark.parametrize("batch", sorted(BATCHES))
def test_masked_loss_and_gradients_equal_the_numpy_reference(kind, loss, batch):
    ids = BATCHES[batch]
    y = _targets(loss)
    model = _embedding_dense(kind)
    model.compile(optimizer="sgd", loss=_loss_object(loss))
    value, grads = model.compute_loss_and_gradients(ids, y)
    ref_value, ref_grads = _masked_reference(model.get_weights(), ids, y, loss,
                                             "sum_over_batch_size")
    assert value == pytest.approx(ref_value, **LOSS_TOL)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, **GRAD_TOL)
    # The padding row of the table is only ever looked up at masked steps.
    assert not grads[0][0].any()


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean", "sum",
                                       "mean_with_sample_weight"])
def test_masked_loss_with_sample_weights_and_each_reduction(reduction):
    ids, y = MIXED, _targets("scce")
    sample_weight = np.array([0.5, 2.0, 3.0, 1.0], np.float32)
    model = _embedding_dense()
    model.compile(optimizer="sgd", loss=_loss_object("scce", reduction))
    value, grads = model.compute_loss_and_gradients(ids, y, sample_weight=sample_weight)
    ref_value, ref_grads = _masked_reference(model.get_weights(), ids, y, "scce", reduction,
                                             sample_weight)
    assert value == pytest.approx(ref_value, **LOSS_TOL)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, **GRAD_TOL)


def test_targets_at_masked_steps_change_nothing():
    y = _targets("scce")
    other = y.copy()
    other[MIXED == 0] = (other[MIXED == 0] + 1) % C
    model = _embedding_dense()
    model.compile(optimizer="sgd", loss=_loss_object("scce"), metrics=["accuracy"])
    value, grads = model.compute_loss_and_gradients(MIXED, y)
    value_other, grads_other = model.compute_loss_and_gradients(MIXED, other)
    assert value == value_other
    for g, h in zip(grads, grads_other):
        np.testing.assert_array_equal(g, h)
    assert model.test_on_batch(MIXED, y) == model.test_on_batch(MIXED, other)


def test_a_fully_masked_batch_has_loss_and_gradients_zero():
    model = _embedding_dense()
    model.compile(optimizer="sgd", loss=_loss_object("scce"))
    value, grads = model.compute_loss_and_gradients(EMPTY, _targets("scce"))
    assert value == 0.0
    assert not any(g.any() for g in grads)


@pytest.mark.parametrize("loss", ["scce", "mse"])
def test_train_test_fit_and_evaluate_use_the_masked_loss(loss):
    ids, y = MIXED, _targets(loss)
    lr = 0.1
    ref_value, ref_grads = _masked_reference(_embedding_dense().get_weights(), ids, y, loss,
                                             "sum_over_batch_size")
    start = _embedding_dense().get_weights()
    expected_after = [w - lr * g for w, g in zip(start, ref_grads)]

    for run in ("train_on_batch", "fit"):
        model = _embedding_dense()
        model.compile(optimizer=optimizers.SGD(learning_rate=lr), loss=_loss_object(loss))
        assert model.test_on_batch(ids, y) == pytest.approx(ref_value, **LOSS_TOL)
        assert model.evaluate(ids, y, verbose=0) == pytest.approx(ref_value, **LOSS_TOL)
        if run == "train_on_batch":
            reported = model.train_on_batch(ids, y)
        else:
            reported = model.fit(ids, y, batch_size=N, shuffle=False,
                                 verbose=0).history["loss"][0]
        assert reported == pytest.approx(ref_value, **LOSS_TOL)
        for w, e in zip(model.get_weights(), expected_after):
            np.testing.assert_allclose(w, e, **GRAD_TOL)


def test_a_masking_model_trains_on_kept_steps_only():
    x, keep = _masking_input(0.0)
    y = _rng(5).normal(size=(N, T, 1)).astype(np.float32)
    model = gru_py.Sequential([Input((T, F)), Masking(), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    value, (d_kernel, d_bias) = model.compute_loss_and_gradients(x, y)
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    inputs = np.where(keep[..., None], x, 0.0)
    err = (inputs @ kernel + bias - y)[..., 0] * keep
    assert value == pytest.approx(float((err**2).sum() / keep.sum()), **LOSS_TOL)
    d_pred = 2.0 * err / keep.sum()
    np.testing.assert_allclose(d_kernel, np.einsum("ntf,nt->f", inputs, d_pred)[:, None],
                               **GRAD_TOL)
    np.testing.assert_allclose(d_bias, [d_pred.sum()], **GRAD_TOL)


def test_a_dropped_mask_leaves_the_loss_unmasked():
    ids = MIXED
    model = gru_py.Sequential([Embedding(V, D, mask_zero=True), Flatten(), Dense(1)])
    model.build((None, T))
    model.compile(optimizer="sgd", loss="mse")
    y = np.ones((N, 1), np.float32)
    with pytest.warns(UserWarning, match="does not support masking"):
        value = model.test_on_batch(ids, y)
        pred = model.predict(ids, verbose=0)
    assert value == pytest.approx(float(((pred - y) ** 2).mean()), **LOSS_TOL)


# -- masked metrics -----------------------------------------------------------------------


def test_mean_metrics_ignore_masked_steps_weighted_or_not():
    ids, y = MIXED, _targets("scce")
    sample_weight = np.array([0.5, 2.0, 3.0, 1.0], np.float32)
    model = _embedding_dense()
    model.compile(optimizer="sgd", loss=_loss_object("scce"), metrics=["accuracy"],
                  weighted_metrics=[metrics.SparseCategoricalAccuracy(name="w_acc")])
    logs = model.test_on_batch(ids, y, sample_weight=sample_weight, return_dict=True)
    correct = model.predict(ids, verbose=0).argmax(axis=-1) == y
    kept = ids != 0
    assert logs["accuracy"] == pytest.approx(correct[kept].mean(), rel=1e-12)
    w = kept * sample_weight.astype(np.float64)[:, None]
    assert logs["w_acc"] == pytest.approx(float((correct * w).sum() / w.sum()), rel=1e-12)
    # Unmasked, the value differs: the test can tell masked from unmasked accuracy.
    assert correct.mean() != pytest.approx(correct[kept].mean())


def test_masked_metrics_accumulate_over_batches():
    ids = np.concatenate([MIXED, LEFT])
    y = np.concatenate([_targets("scce", 4), _targets("scce", 6)])
    model = _embedding_dense()
    model.compile(optimizer="sgd", loss=_loss_object("scce"), metrics=["accuracy"])
    logs = model.evaluate(ids, y, batch_size=N, verbose=0, return_dict=True)
    correct = model.predict(ids, verbose=0).argmax(axis=-1) == y
    assert logs["accuracy"] == pytest.approx(correct[ids != 0].mean(), rel=1e-12)


def test_confusion_metrics_do_not_read_the_mask_as_in_keras():
    ids = RIGHT
    y = (_rng(8).random((N, T, 1)) > 0.5).astype(np.float32)
    model = gru_py.Sequential([Embedding(V, D, mask_zero=True), Dense(1, activation="sigmoid")])
    model.build((None, T))
    model.set_weights([_rng(9).normal(size=w.shape) for w in model.get_weights()])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[metrics.Precision(name="precision")])
    logs = model.test_on_batch(ids, y, return_dict=True)
    positive = model.predict(ids, verbose=0) > 0.5
    everywhere = (positive & (y == 1)).sum() / positive.sum()
    assert logs["precision"] == pytest.approx(everywhere, rel=1e-12)
    kept = (ids != 0)[..., None]
    assert everywhere != pytest.approx((positive & (y == 1) & kept).sum() / (positive & kept).sum())


# -- apply_mask ------------------------------------------------------------------------------


def test_apply_mask_scales_kept_entries_for_mean_reductions():
    mask = MIXED != 0
    kept = mask.sum()
    for reduction in ("sum_over_batch_size", "mean"):
        np.testing.assert_allclose(losses.apply_mask(None, mask, reduction),
                                   mask * (mask.size / kept))
    for reduction in ("sum", "mean_with_sample_weight", None):
        np.testing.assert_array_equal(losses.apply_mask(None, mask, reduction), mask)
    sw = np.arange(1.0, N + 1)
    np.testing.assert_allclose(losses.apply_mask(sw, mask, "sum"), mask * sw[:, None])
    np.testing.assert_array_equal(losses.apply_mask(None, EMPTY != 0), np.zeros((N, T)))
    assert losses.apply_mask(sw, None) is sw


def test_apply_mask_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mask must be a boolean array, got dtype int64"):
        losses.apply_mask(None, MIXED)
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not fit the "
                                         r"output mask of shape \(4, 5\)"):
        losses.apply_mask(np.ones(3), MIXED != 0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.apply_mask(None, MIXED != 0, "average")


def test_a_mask_that_does_not_fit_the_per_sample_losses_raises_clearly():
    # Labels (N, T) with predictions (N, T, 1): Keras' alignment squeezes the predictions
    # and the loss averages over time, so the (N, T) mask has no per-step loss to weight.
    model = gru_py.Sequential([Embedding(V, D, mask_zero=True), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="output's mask counts as a weight"):
        model.train_on_batch(MIXED, np.ones((N, T), np.float32))


# -- configs ---------------------------------------------------------------------------------


def test_model_configs_round_trip_the_masking_layers():
    x, keep = _masking_input(-1.0)
    model = gru_py.Sequential([Input((T, F)), Masking(-1.0), Dense(C)])
    again = gru_py.Sequential.from_config(model.get_config())
    np.testing.assert_array_equal(_forward_masks(again, x)[0], keep)

    functional = _embedding_dense("functional")
    rebuilt = gru_py.Model.from_config(functional.get_config())
    np.testing.assert_array_equal(_forward_masks(rebuilt, MIXED)[0], MIXED != 0)


def test_saved_model_keeps_its_masks(tmp_path):
    model = _embedding_dense()
    model.compile(optimizer="sgd", loss=_loss_object("scce"))
    path = tmp_path / "masked.keras"
    model.save(path)
    loaded = gru_py.saving.load_model(path)
    y = _targets("scce")
    assert loaded.test_on_batch(MIXED, y) == pytest.approx(model.test_on_batch(MIXED, y),
                                                           rel=1e-7)
    np.testing.assert_array_equal(_forward_masks(loaded, MIXED)[0], MIXED != 0)
