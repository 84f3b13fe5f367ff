"""Sequential: a plain stack of layers, each feeding the next."""

import numpy as np

from gru_py.layers.base import Layer
from gru_py.layers.core import InputLayer
from gru_py.layers.node import KerasTensor
from gru_py.models.model import Model


class Sequential(Model):
    """A linear stack of layers, built as Keras builds it.

    The input shape comes from ``Input(shape=...)`` as the first element, from
    ``input_shape=`` (or ``input_dim=``) on the first layer, or else from the first
    batch the model sees. A ``None`` time axis accepts batches of any length.

    Args:
        layers: a list of layers (the first may be a ``gru_py.Input`` tensor).
        trainable: whether fit updates the weights.
        name: the model's name.
    """

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(name=name, trainable=trainable)
        self._layers = []
        self._input_layer = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._layers)

    @property
    def input_names(self):
        return []

    def add(self, layer):
        """Appends a layer (or, first, an ``Input`` tensor or InputLayer)."""
        if isinstance(layer, KerasTensor):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("Sequential: an Input can only come first")
            self._input_layer = layer
            self._build_from(layer.batch_shape)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a gru_py layer, got {type(layer).__name__}")
        if isinstance(layer, Model):
            raise NotImplementedError("Sequential: nested models are not supported yet")
        self._layers.append(layer)
        if len(self._layers) == 1 and self._input_layer is None:
            shape = _declared_input_shape(layer)
            if shape is not None:
                self._build_from(shape)
                return
        if self.built:
            self._build_from(self._batch_shape)

    def _build_from(self, batch_shape):
        """Builds every layer in turn from the model's input shape, so that summary and
        count_params work before any data is seen."""
        shape = tuple(batch_shape)
        for layer in self._layers:
            if not layer.built:
                layer.build(shape)
            out = layer.compute_output_shape(shape)
            if isinstance(out, list):
                raise ValueError(
                    f"Sequential: layer '{layer.name}' has several outputs; use the "
                    "functional API for it")
            layer._output_shape = out
            shape = out
        self._batch_shape = tuple(batch_shape)
        self.built = True

    def build(self, input_shape=None):
        if input_shape is None:
            raise ValueError("Sequential.build needs an input_shape (batch, ...)")
        self._build_from(input_shape)

    def _ensure_built(self, inputs):
        if not self.built:
            if not self._layers:
                raise ValueError("Sequential: the model has no layers")
            self._build_from((None,) + np.shape(inputs[0])[1:])

    def _forward(self, inputs, training):
        if len(inputs) != 1:
            raise ValueError(f"Sequential models take one input, got {len(inputs)}")
        x, mask = inputs[0], None
        for layer in self._layers:
            outputs = layer._graph_forward(x, {}, training, mask=mask)
            mask = layer._output_masks(x, mask, len(outputs))[0]
            x = outputs[0]
        return [x], [mask]

    def _backward(self, d_outputs):
        d = d_outputs[0]
        for i in reversed(range(len(self._layers))):
            # the first layer's input is the data: its gradient has no use
            d, _ = self._layers[i]._graph_backward([d], input_gradient=i > 0)

    def get_config(self):
        from gru_py.layers import serialize

        config = {"name": self.name, "trainable": self.trainable,
                  "layers": [serialize(layer) for layer in self._layers]}
        if self._input_layer is not None or self.built:
            config["batch_shape"] = list(self._batch_shape)
        return config

    @classmethod
    def from_config(cls, config):
        from gru_py.layers import deserialize
        from gru_py.layers.core import InputLayer as _InputLayer

        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        if config.get("batch_shape") is not None:
            model.add(_InputLayer(batch_shape=config["batch_shape"]))
        for layer_config in config["layers"]:
            model.add(deserialize(layer_config))
        return model


def _declared_input_shape(layer):
    """The batch shape a first layer declares with input_shape / input_dim /
    batch_input_shape / batch_size, or None."""
    kwargs = layer._input_kwargs
    if "batch_input_shape" in kwargs:
        return tuple(kwargs["batch_input_shape"])
    batch = kwargs.get("batch_size")
    if "input_shape" in kwargs:
        return (batch,) + tuple(kwargs["input_shape"])
    if "input_dim" in kwargs:
        return (batch, int(kwargs["input_dim"]))
    return None
