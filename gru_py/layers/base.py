"""The Layer base class: Keras' lifecycle on NumPy arrays, plus a backward pass.

``__init__`` stores and validates configuration only, ``build`` creates the weights,
``call`` computes, ``get_config`` round-trips the constructor. On top of Keras, a layer
called with ``training=True`` keeps what its ``backward`` needs; ``backward`` returns the
input gradient and accumulates parameter gradients into ``layer.gradients``.

Called on a symbolic :class:`~gru_py.layers.node.KerasTensor`, a layer records a graph
node instead of computing (the functional API). Models drive layers through
``_graph_forward`` / ``_graph_backward``, which also apply the activity regularizer.

Masks follow Keras 3. A mask is a boolean array, (B, T) for sequences, True where a step
is used. Models hand each layer the mask of its input: to ``call`` when ``call`` has a
``mask`` parameter, and to ``compute_mask``, which gives the mask of the output. A layer
that does not support masking drops the mask, with a warning. Masks carry no gradient.
"""

import collections
import functools
import inspect
import re
import warnings

import numpy as np

from gru_py import initializers, regularizers
from gru_py.layers.node import KerasTensor, Node, is_symbolic

# Keras' base-layer keyword arguments that describe the model's input, kept for the
# model that will read them.
_INPUT_KWARGS = ("input_shape", "input_dim", "batch_input_shape", "batch_size")

_name_uids = collections.Counter()


def _snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@functools.cache
def _call_takes_mask(cls):
    """Whether ``cls.call`` has a ``mask`` parameter; Keras passes a mask only to those.
    Cached per class, so models pay for the signature once, not on every call."""
    return "mask" in inspect.signature(cls.call).parameters


def _unique_name(prefix):
    """Keras' automatic names: gru, gru_1, gru_2, ..."""
    _name_uids[prefix] += 1
    uid = _name_uids[prefix]
    return prefix if uid == 1 else f"{prefix}_{uid - 1}"


class Layer:
    """Base class of gru_py layers.

    Args:
        name: the layer's name; by default the snake-case class name made unique.
        trainable: whether the optimizer updates this layer's weights.
        dtype: only float32 (Keras' default) is supported.
        **kwargs: Keras' input-describing arguments (``input_shape``, ``input_dim``,
            ``batch_input_shape``, ``batch_size``); anything else is an error.
    """

    def __init__(self, *, name=None, trainable=True, dtype=None, activity_regularizer=None,
                 **kwargs):
        unknown = set(kwargs) - set(_INPUT_KWARGS)
        if unknown:
            raise ValueError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: "
                f"{sorted(unknown)}")
        if dtype not in (None, "float32", np.float32):
            raise NotImplementedError(
                f"{type(self).__name__}: dtype must be 'float32', got {dtype!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {name!r}")
        self.name = name if name else _unique_name(_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = "float32"
        self._input_kwargs = {k: kwargs[k] for k in _INPUT_KWARGS if k in kwargs}
        self.built = False
        self._weights = []  # [(name, array, trainable)] in Keras' get_weights order
        self.gradients = []  # one accumulator per weight, same order
        self._regularizers = {}  # index in self._weights -> regularizer
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._activity_outputs = None
        self._inbound_nodes = []
        # Keras 3's rule: a layer that defines its own compute_mask supports masking;
        # layers that pass the mask through unchanged set the flag themselves.
        self._supports_masking = type(self).compute_mask is not Layer.compute_mask

    def _reject_unsupported(self, **settings):
        """Raises NotImplementedError for features this version does not have yet.

        ``settings`` maps an argument name to ``(value, default)``; any value other than
        its default is rejected rather than silently ignored.
        """
        for arg, (value, default) in settings.items():
            if value != default:
                raise NotImplementedError(
                    f"{type(self).__name__}: {arg}={value!r} is not supported yet "
                    f"(only the default, {default!r})")

    @property
    def supports_masking(self):
        """Whether the layer propagates masks (through :meth:`compute_mask`). A mask that
        reaches a layer without support is dropped, with a warning."""
        return self._supports_masking

    @supports_masking.setter
    def supports_masking(self, value):
        self._supports_masking = bool(value)

    @property
    def trainable(self):
        """Whether fit updates this layer's weights (False freezes it)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)

    # -- weights --------------------------------------------------------------------

    def add_weight(self, name, shape, initializer, trainable=True, regularizer=None):
        """Creates a float32 weight from an initializer and registers it."""
        value = np.ascontiguousarray(initializers.get(initializer)(shape), dtype=np.float32)
        if value.shape != tuple(shape):
            raise ValueError(
                f"{self.name}: initializer for {name} returned shape {value.shape}, "
                f"expected {tuple(shape)}")
        self._weights.append((name, value, trainable))
        self.gradients.append(np.zeros_like(value))
        if regularizer is not None:
            self._regularizers[len(self._weights) - 1] = regularizer
        return value

    @property
    def weights(self):
        """The weight arrays, in Keras' order. They are the layer's own, not copies."""
        return [w for _, w, _ in self._weights]

    @property
    def trainable_weights(self):
        return [w for _, w, t in self._weights if t and self.trainable]

    @property
    def non_trainable_weights(self):
        return [w for _, w, t in self._weights if not (t and self.trainable)]

    def get_weights(self):
        """Copies of the weights, in Keras' order and shapes."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Overwrites the weights in place, checking their number and shapes.

        Raises:
            ValueError: wrong count or shape, or a weight with NaN or Inf.
        """
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(
                f"{self.name}: set_weights expects a list of {len(self._weights)} arrays "
                f"{[w.shape for w in self.weights]}, got {len(weights)}")
        arrays = [np.asarray(w, dtype=np.float32) for w in weights]
        for (name, own, _), new in zip(self._weights, arrays):
            if new.shape != own.shape:
                raise ValueError(
                    f"{self.name}: weight {name} must have shape {own.shape}, "
                    f"got {new.shape}")
            if not np.isfinite(new).all():
                raise ValueError(f"{self.name}: weight {name} contains NaN or Inf")
        for (_, own, _), new in zip(self._weights, arrays):
            own[...] = new

    def zero_gradients(self):
        """Resets the accumulated parameter gradients to zero."""
        for g in self.gradients:
            g.fill(0.0)

    def count_params(self):
        """Number of weight entries.

        Raises:
            ValueError: the layer is not built yet.
        """
        if not self.built:
            raise ValueError(
                f"You tried to call count_params on layer '{self.name}', but the layer "
                "isn't built. Call it on data or call build(input_shape) first.")
        return int(sum(w.size for w in self.weights))

    # -- regularization --------------------------------------------------------------

    def regularization_penalty(self):
        """The weight regularizers' penalty, added to the training loss (a float)."""
        return float(sum(reg(self._weights[i][1]) for i, reg in self._regularizers.items()))

    def add_regularization_gradients(self):
        """Adds the weight regularizers' gradients into ``self.gradients``."""
        for i, reg in self._regularizers.items():
            self.gradients[i] += reg.gradient(self._weights[i][1])

    def _adopt_weights(self, other):
        """Registers another layer's weights, gradients and regularizers as this layer's
        own (the same arrays): how a recurrent layer exposes its cells' weights."""
        offset = len(self._weights)
        self._weights.extend(other._weights)
        self.gradients.extend(other.gradients)
        for i, reg in other._regularizers.items():
            self._regularizers[offset + i] = reg

    # -- lifecycle -------------------------------------------------------------------

    def build(self, input_shape):
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if is_symbolic(inputs) or (kwargs and any(is_symbolic(v) for v in kwargs.values())):
            return self._call_symbolic(inputs, *args, **kwargs)
        if not self.built:
            self.build(_shape_of(inputs))
        return self.call(inputs, *args, **kwargs)

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError

    def backward(self, d_output):
        raise NotImplementedError(f"{type(self).__name__} has no backward pass")

    def compute_output_shape(self, input_shape):
        """The output shape (None for unknown sizes) for an input shape; a list of
        shapes for a layer with several outputs."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot be used in a functional model: it does not "
            "define compute_output_shape")

    def compute_mask(self, inputs, mask=None):
        """The mask of the output for an input and its mask; by default the input's mask.

        Args:
            inputs: the layer's input (a list of arrays for merge layers).
            mask: the input's mask, such as (B, T) bool, or None (a list for a list of
                inputs).

        Returns:
            The output's mask or None; a list with one entry per output for a layer with
            several outputs.
        """
        return mask

    def _call_symbolic(self, inputs, **kwargs):
        """Records a graph node for a call on KerasTensors and returns the outputs'
        KerasTensors (one, or a tuple for several outputs)."""
        if kwargs.get("mask") is not None:
            raise NotImplementedError(
                f"{self.name}: passing mask= to a layer in a functional model is not "
                "supported; masks come from Embedding(mask_zero=True) or Masking and reach "
                "the following layers by themselves")
        inputs_is_list = isinstance(inputs, (list, tuple))
        main = list(inputs) if inputs_is_list else [inputs]
        keyword_inputs = {}
        for key, value in kwargs.items():
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            if value is None:
                continue
            if not all(isinstance(v, KerasTensor) for v in values):
                raise TypeError(
                    f"{self.name}: in a functional model, {key} must be KerasTensors, got "
                    f"{value!r}")
            keyword_inputs[key] = values
        for t in main:
            if not isinstance(t, KerasTensor):
                raise TypeError(
                    f"{self.name}: cannot mix symbolic and concrete inputs, got {t!r}")
        shapes = [t.shape for t in main]
        input_shape = shapes if inputs_is_list else shapes[0]
        if not self.built:
            self.build(input_shape)
        out_shapes = self.compute_output_shape(input_shape)
        several = isinstance(out_shapes, list)
        node = Node(self, main, inputs_is_list, keyword_inputs)
        for i, shape in enumerate(out_shapes if several else [out_shapes]):
            node.outputs.append(KerasTensor(shape, name=f"{self.name}_{i}", node=node, index=i))
        self._inbound_nodes.append(node)
        return tuple(node.outputs) if several else node.outputs[0]

    def _graph_forward(self, inputs, keyword_inputs, training, mask=None):
        """Runs the layer for a model: returns the list of its outputs.

        Args:
            inputs: the main input, an array or (merge layers) a list of arrays.
            keyword_inputs: {keyword: list of arrays} such as ``initial_state``.
            training: the mode of the call.
            mask: the main input's mask (a list for a list of inputs), given to ``call``
                only when ``call`` has a ``mask`` parameter.
        """
        if _call_takes_mask(type(self)):
            outputs = self.call(inputs, training=training, mask=mask)
        else:
            outputs = self.call(inputs, training=training)
        outputs = list(outputs) if isinstance(outputs, tuple) else [outputs]
        self._track_activity(outputs, training)
        return outputs

    def _output_masks(self, inputs, mask, count):
        """The masks of the ``count`` outputs of a call on ``inputs`` whose mask was
        ``mask``, as Keras propagates them: from compute_mask when the layer supports
        masking, else None, with a warning if an input mask is lost."""
        if self.supports_masking:
            masks = self.compute_mask(inputs, mask)
            masks = list(masks) if isinstance(masks, (list, tuple)) else [masks]
            return masks[:count] + [None] * (count - len(masks))
        given = mask if isinstance(mask, list) else [mask]
        if any(m is not None for m in given):
            warnings.warn(
                f"Layer '{self.name}' ({type(self).__name__}) does not support masking: "
                "the mask of its input is dropped and the layers after it see none",
                UserWarning, stacklevel=2)
        return [None] * count

    def _track_activity(self, outputs, training):
        # Kept in both modes: Keras counts the penalty in evaluate's loss as well.
        self._activity_outputs = outputs[0] if self.activity_regularizer else None

    def activity_penalty(self):
        """The activity regularizer's penalty on the last output (a float)."""
        if self._activity_outputs is None:
            return 0.0
        return float(self.activity_regularizer(self._activity_outputs))

    def _graph_backward(self, d_outputs, input_gradient=True):
        """Backward for a model: d_outputs aligned with the outputs (None for an output
        that received no gradient). Returns (gradient of the main input, {keyword:
        list of gradients}).

        ``input_gradient=False`` says that the model has no use for the gradient of the
        main input (it is a model input, that is data). A layer for which that gradient
        is expensive (the recurrent layers and the wrappers around them) then skips it
        and returns None for it; the others may ignore the flag.
        """
        d_out = self._with_activity_gradient(d_outputs[0])
        return self.backward(d_out), {}

    def _with_activity_gradient(self, d_output):
        """d_output plus the activity regularizer's gradient (d_output may be None)."""
        if self._activity_outputs is None:
            return d_output
        penalty_grad = self.activity_regularizer.gradient(self._activity_outputs)
        return penalty_grad if d_output is None else d_output + penalty_grad

    def get_config(self):
        """The constructor arguments, JSON-compatible, such that
        ``type(layer).from_config(layer.get_config())`` rebuilds an equal layer."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        config.update(self._input_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _shape_of(inputs):
    """The shape of an array, or the list of shapes of a list of arrays."""
    if isinstance(inputs, (list, tuple)):
        return [np.shape(x) for x in inputs]
    return np.shape(inputs)
