"""Model: Keras 3's training API (compile, fit, evaluate, predict, ...) over gru_py layers.

One training step: forward through the layers (each one C call), the loss and its
gradient in C, backward through the layers in reverse (each one C call), then the
optimizer's fused update of every weight. Python only does the bookkeeping.

A ``Model(inputs, outputs)`` runs a functional :class:`~gru_py.models.graph.Graph`;
:class:`~gru_py.models.sequential.Sequential` runs a chain of layers. Both share this
class's training loop through ``_forward`` and ``_backward``.

When the output carries a mask (from ``Embedding(mask_zero=True)`` or ``Masking``), the
loss, its gradient and the mean metrics leave the masked steps out, as in Keras 3.
"""

import math

import numpy as np

from gru_py import _random, losses, optimizers
from gru_py import callbacks as callbacks_module
from gru_py import metrics as metrics_module
from gru_py._native import _core
from gru_py.layers.base import Layer, _unique_name
from gru_py.models import data as data_utils
from gru_py.models.graph import Graph


class Model(Layer):
    """A trainable graph of layers: ``Model(inputs, outputs)`` (functional API).

    Args:
        inputs: a KerasTensor from ``gru_py.Input``, or a list of them.
        outputs: the KerasTensor(s) computed from them by layer calls.
        name: the model's name.
        trainable: whether fit updates the weights.
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if name is None and type(self) is Model:
            name = _unique_name("functional")  # Keras 3's name for functional models
        super().__init__(name=name, trainable=trainable, **kwargs)
        self.stop_training = False
        self.history = None
        self.optimizer = None
        self.compiled = False
        self._initial_epoch = None
        self._graph = None
        if type(self) is Model:
            if inputs is None or outputs is None:
                raise NotImplementedError(
                    "Model: subclassed models with a custom call() are not supported; build "
                    "a functional Model(inputs, outputs) or a Sequential model")
            self._graph = Graph(inputs, outputs)
            self.built = True

    # -- structure ---------------------------------------------------------------------

    @property
    def layers(self):
        """Every layer, InputLayers first, as Keras 3 lists a functional model's."""
        return list(self._graph.layers)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        # Keras 3: setting a model's trainable flag sets every layer's.
        self._trainable = bool(value)
        for layer in self.layers:
            layer.trainable = self._trainable

    @property
    def inputs(self):
        return list(self._graph.inputs)

    @property
    def outputs(self):
        return list(self._graph.outputs)

    @property
    def input_names(self):
        return [t.node.layer.name for t in self._graph.inputs] if self._graph else []

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in ``layers``."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}; layers are {[l.name for l in self.layers]}")

    # Weights are the layers' own; a model holds none itself.
    @property
    def _layer_list(self):
        return self.layers if self.built else []

    @property
    def weights(self):
        return [w for layer in self._layer_list for w in layer.weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for layer in self._layer_list for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for layer in self._layer_list for w in layer.non_trainable_weights]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Sets every layer's weights from one list in ``get_weights`` order."""
        weights = list(weights)
        expected = len(self.weights)
        if len(weights) != expected:
            raise ValueError(
                f"{self.name}: set_weights expects {expected} arrays, got {len(weights)}")
        start = 0
        for layer in self._layer_list:
            count = len(layer.weights)
            layer.set_weights(weights[start:start + count])
            start += count

    def count_params(self):
        if not self.built:
            raise ValueError(
                f"You tried to call count_params on model '{self.name}', but the model "
                "isn't built. Call it on data or call build(input_shape) first.")
        return int(sum(w.size for w in self.weights))

    def _trainable_pairs(self):
        """[(weight, its gradient accumulator)] for the weights the optimizer updates."""
        if not self.trainable:
            return []
        pairs = []
        for layer in self._layer_list:
            if not layer.trainable:
                continue
            for (_, w, trainable), g in zip(layer._weights, layer.gradients):
                if trainable:
                    pairs.append((w, g))
        return pairs

    # -- forward and backward -----------------------------------------------------------

    def _ensure_built(self, inputs):
        """Hook for models built from their first batch (Sequential); a functional model
        is built when it is defined, so there is nothing to do."""

    def _forward(self, inputs, training):
        """Runs the model: returns (outputs, masks), the output arrays and the mask each
        carries (None for none)."""
        return self._graph.forward(inputs, training)

    def _backward(self, d_outputs):
        self._graph.backward(d_outputs)

    def __call__(self, inputs, training=False):
        """Runs the model on arrays: one forward pass, no batching."""
        arrays = data_utils.as_input_list(inputs, self.input_names)
        self._ensure_built(arrays)
        outputs, _ = self._forward(arrays, training=bool(training))
        return outputs[0] if len(outputs) == 1 else outputs

    def _regularization_penalty(self):
        return sum(layer.regularization_penalty() + layer.activity_penalty()
                   for layer in self._layer_list)

    # -- compile -------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Configures training, with Keras 3's arguments and defaults.

        Args:
            optimizer: a name ("rmsprop", "adam", "sgd", ...) or an optimizer object.
            loss: a name ("mse", "categorical_crossentropy", ...) or a Loss object.
            metrics: a list of names or Metric objects ("accuracy" is resolved from the
                shapes of the first batch, as in Keras 3).
            weighted_metrics: metrics that use sample weights.
            loss_weights: only for models with several outputs, not supported yet.
            run_eagerly, steps_per_execution, jit_compile, auto_scale_loss: accepted for
                compatibility; they do not change gru_py's execution.
        """
        if loss_weights is not None:
            raise NotImplementedError("compile: loss_weights (several outputs) is not "
                                      "supported yet")
        if isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, int) \
                or steps_per_execution < 1:
            raise ValueError(
                f"steps_per_execution must be a positive integer, got {steps_per_execution!r}")
        self.optimizer = optimizers.get(optimizer)
        self.loss = None if loss is None else losses.get(loss)
        self._metric_specs = [("plain", m) for m in _as_list(metrics, "metrics")] + \
            [("weighted", m) for m in _as_list(weighted_metrics, "weighted_metrics")]
        self._metrics = None  # resolved on the first batch, when shapes are known
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._compile_config = {
            "optimizer": optimizers.serialize(self.optimizer),
            "loss": None if loss is None else losses.serialize(self.loss),
            "metrics": [_metric_config(m) for m in _as_list(metrics, "metrics")],
            "weighted_metrics": [_metric_config(m)
                                 for m in _as_list(weighted_metrics, "weighted_metrics")],
        }
        self.compiled = True

    def _check_compiled(self, method):
        if not self.compiled:
            raise ValueError(f"You must call compile() before {method}()")
        if self.loss is None:
            raise ValueError(f"{method}: the model was compiled without a loss")

    def _resolve_metrics(self, y, y_pred):
        if self._metrics is None:
            self._metrics = [(kind, metrics_module.get(spec, y_true=y, y_pred=y_pred))
                             for kind, spec in self._metric_specs]

    @property
    def metrics(self):
        """The loss tracker and the compiled metrics (after the first batch)."""
        found = [self._loss_tracker] if self.compiled else []
        return found + [m for _, m in (self._metrics or [])]

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def _logs(self):
        """Keras' log dict: the loss and every metric, keys sorted."""
        logs = {m.name: _python_value(m.result()) for m in self.metrics}
        return dict(sorted(logs.items()))

    # -- one batch -------------------------------------------------------------------------

    def _update_metrics(self, y, y_pred, mask, sample_weight, loss_value, count):
        self._loss_tracker.update_state(loss_value, sample_weight=count)
        for kind, metric in self._metrics:
            # The output's mask reaches every metric, weighted or not, as in Keras 3.
            metric._update_state_masked(
                y, y_pred, sample_weight if kind == "weighted" else None, mask)

    def compute_loss_and_gradients(self, x, y, sample_weight=None):
        """One batch's loss and the gradients of ``trainable_weights``, from one call.

        For custom training loops: follow with
        ``optimizer.apply_gradients(zip(grads, model.trainable_weights))``.

        Returns:
            (loss, grads): the batch loss (regularization included) as a float, and a
            list of new arrays aligned with ``model.trainable_weights``.
        """
        self._check_compiled("compute_loss_and_gradients")
        arrays = data_utils.as_input_list(x, self.input_names)
        y = data_utils.as_target(y)
        data_utils.check_same_length([("x", arrays[0]), ("y", y), ("sample_weight",
                                                                  sample_weight)])
        loss_value, _, _ = self._loss_and_backward(arrays, y, sample_weight)
        return loss_value, [g.copy() for _, g in self._trainable_pairs()]

    def _loss_and_backward(self, arrays, y, sample_weight):
        """Forward in training mode, loss, backward; gradients left in the layers.

        Returns (loss, y_pred, mask of y_pred). The output's mask, when it has one, joins
        the sample weights: masked entries add nothing to the loss or its gradient.
        A model whose predictions or gradients are no longer finite (it diverged) gets a
        NaN loss (and no backward, for predictions), so that fit reports it as Keras does
        and TerminateOnNaN can act; a training step then leaves the weights alone.
        """
        self._ensure_built(arrays)
        for layer in self._layer_list:
            layer.zero_gradients()
        outputs, masks = self._forward(arrays, training=True)
        if len(outputs) != 1:
            raise NotImplementedError("models with several outputs cannot be trained yet")
        y_pred, mask = outputs[0], masks[0]
        if not _all_finite(y_pred):
            return float("nan"), y_pred, mask
        weights = losses.apply_mask(sample_weight, mask, self.loss.reduction)
        loss_value, d_pred = self.loss._train_forward_backward(y, y_pred, weights)
        self._backward([d_pred])
        for layer in self._layer_list:
            layer.add_regularization_gradients()
        if not all(_all_finite(g) for _, g in self._trainable_pairs()):
            # Finite predictions but overflowing gradients: diverging all the same.
            return float("nan"), y_pred, mask
        return loss_value + self._regularization_penalty(), y_pred, mask

    def _train_step(self, arrays, y, sample_weight):
        loss_value, y_pred, mask = self._loss_and_backward(arrays, y, sample_weight)
        self._resolve_metrics(y, y_pred)  # even on a NaN first step, so that logs list them
        if not math.isfinite(loss_value):
            # Keras reports the NaN and lets TerminateOnNaN decide; gru_py does the same,
            # and leaves the weights untouched rather than writing NaN into them.
            self._loss_tracker.update_state(loss_value, sample_weight=len(y))
            return
        pairs = self._trainable_pairs()
        if pairs:
            self.optimizer.apply_gradients([(g, w) for w, g in pairs])
        self._update_metrics(y, y_pred, mask, sample_weight, loss_value, len(y))

    def _test_step(self, arrays, y, sample_weight):
        outputs, masks = self._forward(arrays, training=False)
        y_pred, mask = outputs[0], masks[0]
        if not _all_finite(y_pred):  # a diverged model: report NaN, as Keras would
            self._loss_tracker.update_state(float("nan"), sample_weight=len(y))
            return
        weights = losses.apply_mask(sample_weight, mask, self.loss.reduction)
        loss_value = self.loss(y, y_pred, sample_weight=weights) + \
            self._regularization_penalty()
        self._resolve_metrics(y, y_pred)
        self._update_metrics(y, y_pred, mask, sample_weight, loss_value, len(y))

    def _prepare(self, x, y, sample_weight, class_weight=None):
        """Checked arrays for one call of fit/evaluate/train_on_batch/test_on_batch."""
        arrays = data_utils.as_input_list(x, self.input_names)
        y = data_utils.as_target(y)
        if y is None:
            raise ValueError("y must be given to train or evaluate (the model has a loss)")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float32)
            if not _all_finite(sample_weight):
                raise ValueError("sample_weight must contain only finite values")
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("You cannot use class_weight and sample_weight at the same "
                                 "time")
            sample_weight = data_utils.class_weight_to_sample_weight(y, class_weight)
        data_utils.check_same_length(
            [("x", arrays[0])] + [(f"x[{i}]", a) for i, a in enumerate(arrays[1:], 1)] +
            [("y", y), ("sample_weight", sample_weight)])
        return arrays, y, sample_weight

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One optimizer step on one batch; returns this batch's loss and metrics (the
        metrics are reset first, as in Keras 3)."""
        self._check_compiled("train_on_batch")
        arrays, y, sample_weight = self._prepare(x, y, sample_weight, class_weight)
        self.reset_metrics()
        self._train_step(arrays, y, sample_weight)
        return self._logs_result(return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss and metrics on one batch, in inference mode."""
        self._check_compiled("test_on_batch")
        arrays, y, sample_weight = self._prepare(x, y, sample_weight)
        self.reset_metrics()
        self._test_step(arrays, y, sample_weight)
        return self._logs_result(return_dict)

    def predict_on_batch(self, x):
        """The model's output on one batch, in inference mode."""
        return self(x, training=False)

    def _logs_result(self, return_dict):
        logs = self._logs()
        if return_dict:
            return logs
        ordered = [logs["loss"]] + [logs[m.name] for _, m in self._metrics]
        return ordered[0] if len(ordered) == 1 else ordered

    # -- fit, evaluate, predict --------------------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Trains the model, with Keras 3's arguments, defaults and logs.

        Returns:
            A ``History`` callback; also stored as ``model.history``.
        """
        self._check_compiled("fit")
        if steps_per_epoch is not None or validation_steps is not None:
            raise NotImplementedError("fit: steps_per_epoch and validation_steps are not "
                                      "supported yet (arrays are always used whole)")
        batch_size = data_utils.check_batch_size(batch_size)
        verbose = _check_verbose(verbose)
        if shuffle not in (True, False, "batch"):
            raise ValueError(f"shuffle must be True, False or 'batch', got {shuffle!r}")
        if not isinstance(epochs, int) or not isinstance(initial_epoch, int) or \
                initial_epoch < 0:
            raise ValueError(f"epochs and initial_epoch must be integers >= 0, got {epochs!r} "
                             f"and {initial_epoch!r}")
        arrays, y, sample_weight = self._prepare(x, y, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            val = _unpack_validation(validation_data)
        elif validation_split:
            train, held = data_utils.split_for_validation(arrays + [y, sample_weight],
                                                          validation_split)
            arrays, y, sample_weight = train[:-2], train[-2], train[-1]
            val_x = held[:-2]
            val = (val_x[0] if len(val_x) == 1 else val_x, held[-2], held[-1])
        count = len(y)
        steps = math.ceil(count / batch_size)
        self._ensure_built(arrays)
        val_arrays = None if val is None else self._prepare(*val)
        rng = _random.new_generator()

        self.stop_training = False
        callback_list = callbacks_module.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self, verbose=verbose,
            epochs=epochs, steps=steps)
        self._initial_epoch = None
        callback_list.on_train_begin()
        if self._initial_epoch is not None:  # set by BackupAndRestore
            initial_epoch = self._initial_epoch
        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            for step, index in enumerate(data_utils.batch_indices(count, batch_size, shuffle,
                                                                  rng)):
                callback_list.on_train_batch_begin(step)
                batch = data_utils.take(arrays + [y, sample_weight], index)
                self._train_step(batch[:-2], batch[-2], batch[-1])
                callback_list.on_train_batch_end(step, self._logs())
                if self.stop_training:
                    break
            epoch_logs = self._logs()
            if val is not None and (epoch + 1) % validation_freq == 0:
                # Keras runs validation through the fit callbacks' on_test_* hooks.
                val_logs = self._evaluate_arrays(*val_arrays, validation_batch_size or batch_size,
                                                 callback_list)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        callback_list.on_train_end(epoch_logs)
        return self.history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss and metrics over the data, in inference mode.

        Returns:
            The loss (a float) if there are no metrics, else ``[loss, *metrics]``, or a
            dict with ``return_dict=True``.
        """
        self._check_compiled("evaluate")
        if steps is not None:
            raise NotImplementedError("evaluate: steps is not supported yet")
        batch_size = data_utils.check_batch_size(batch_size)
        verbose = _check_verbose(verbose)
        arrays, y, sample_weight = self._prepare(x, y, sample_weight)
        self._ensure_built(arrays)
        callback_list = callbacks_module.CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
            steps=math.ceil(len(y) / batch_size))
        self._evaluate_arrays(arrays, y, sample_weight, batch_size, callback_list)
        return self._logs_result(return_dict)

    def _evaluate_arrays(self, arrays, y, sample_weight, batch_size, callback_list):
        """Runs the test loop with the given callbacks; returns the logs."""
        self.reset_metrics()
        callback_list.on_test_begin()
        for step, index in enumerate(data_utils.batch_indices(len(y), batch_size, False, None)):
            callback_list.on_test_batch_begin(step)
            batch = data_utils.take(arrays + [y, sample_weight], index)
            self._test_step(batch[:-2], batch[-2], batch[-1])
            callback_list.on_test_batch_end(step, self._logs())
        logs = self._logs()
        callback_list.on_test_end(logs)
        return logs

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for x, computed batch by batch in inference mode."""
        if steps is not None:
            raise NotImplementedError("predict: steps is not supported yet")
        batch_size = data_utils.check_batch_size(batch_size)
        verbose = _check_verbose(verbose)
        arrays = data_utils.as_input_list(x, self.input_names)
        count = data_utils.check_same_length(
            [(f"x[{i}]", a) for i, a in enumerate(arrays)])
        self._ensure_built(arrays)
        callback_list = callbacks_module.CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
            steps=math.ceil(count / batch_size))
        callback_list.on_predict_begin()
        pieces = []
        for step, index in enumerate(data_utils.batch_indices(count, batch_size, False, None)):
            callback_list.on_predict_batch_begin(step)
            pieces.append(self._forward(data_utils.take(arrays, index), training=False)[0])
            callback_list.on_predict_batch_end(step, {"outputs": pieces[-1]})
        callback_list.on_predict_end()
        outputs = [np.concatenate([p[i] for p in pieces]) for i in range(len(pieces[0]))]
        return outputs[0] if len(outputs) == 1 else outputs

    # -- summary, config, saving ----------------------------------------------------------

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Prints Keras' table of layers, output shapes and parameter counts."""
        from gru_py.models.summary import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      show_trainable=show_trainable)

    def get_config(self):
        from gru_py.layers import serialize

        nodes = self._graph.nodes
        index = {id(n): i for i, n in enumerate(nodes)}

        def ref(tensor):
            return [index[id(tensor.node)], tensor.index]

        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [serialize(n.layer) for n in nodes],
            "connections": [
                {"inputs": [ref(t) for t in n.inputs], "inputs_is_list": n.inputs_is_list,
                 "keyword_inputs": {k: [ref(t) for t in ts]
                                    for k, ts in n.keyword_inputs.items()}}
                for n in nodes],
            "input_layers": [ref(t) for t in self._graph.inputs],
            "output_layers": [ref(t) for t in self._graph.outputs],
        }

    @classmethod
    def from_config(cls, config):
        from gru_py.layers import deserialize
        from gru_py.layers.core import InputLayer

        tensors = []
        for layer_config, link in zip(config["layers"], config["connections"]):
            layer = deserialize(layer_config)
            if isinstance(layer, InputLayer):
                tensors.append([layer.output])
                continue

            def get(r):
                return tensors[r[0]][r[1]]

            main = [get(r) for r in link["inputs"]]
            keyword = {k: [get(r) for r in rs] for k, rs in link["keyword_inputs"].items()}
            keyword = {k: v if len(v) > 1 else v[0] for k, v in keyword.items()}
            out = layer(main if link["inputs_is_list"] else main[0], **keyword)
            tensors.append(list(out) if isinstance(out, tuple) else [out])
        inputs = [tensors[r[0]][r[1]] for r in config["input_layers"]]
        outputs = [tensors[r[0]][r[1]] for r in config["output_layers"]]
        return cls(inputs if len(inputs) > 1 else inputs[0],
                   outputs if len(outputs) > 1 else outputs[0], name=config.get("name"),
                   trainable=config.get("trainable", True))

    def save(self, filepath, overwrite=True):
        """Saves architecture, weights, optimizer state and compile configuration in one
        ``.keras`` zip (gru_py's format, see :mod:`gru_py.saving`), atomically."""
        from gru_py import saving

        saving.save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True):
        """Saves the weights and the optimizer state to a ``.weights.npz`` file."""
        from gru_py import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Loads weights (and the optimizer state, when saved) from ``save_weights`` or
        ``save`` output."""
        from gru_py import saving

        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)


def _all_finite(array):
    """Whether every entry of array (as float32) is finite: the core's scan, which unlike
    numpy.isfinite allocates nothing for a float32 array."""
    return _core.find_nonfinite(array) is None


def _as_list(value, argument):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, dict):
        raise NotImplementedError(f"compile: {argument} as a dict (several outputs) is not "
                                  "supported yet")
    return [value]


def _metric_config(metric):
    return metric if isinstance(metric, str) else metrics_module.serialize(metric)


def _python_value(value):
    arr = np.asarray(value)
    return float(arr) if arr.ndim == 0 else arr


def _check_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return verbose


def _unpack_validation(validation_data):
    if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
            f"val_sample_weight), got {type(validation_data).__name__}")
    x_val, y_val = validation_data[0], validation_data[1]
    weights = validation_data[2] if len(validation_data) == 3 else None
    return x_val, y_val, weights

