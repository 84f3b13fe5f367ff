"""Wrapper: the base of layers that run other layers inside them (TimeDistributed,
Bidirectional), as Keras' ``keras.layers.Wrapper``.

A wrapper has no weights of its own: it registers its inner layers' weights, gradients
and regularizers as its own (the same arrays), so that models, optimizers, summaries and
saving see one layer, as they see an RNN and its cells.
"""

from gru_py.layers.base import Layer


class Wrapper(Layer):
    """Base class of layers that wrap another layer.

    Args:
        layer: the wrapped gru_py layer (not a model). Its weights become the wrapper's.
        **kwargs: the base Layer's arguments (``name``, ``trainable``, ...).

    Raises:
        ValueError: ``layer`` is not a gru_py layer.
        NotImplementedError: ``layer`` is a model.
    """

    def __init__(self, layer, **kwargs):
        _check_layer(type(self).__name__, "layer", layer)
        super().__init__(**kwargs)
        self.layer = layer

    @property
    def _inner_layers(self):
        """The layers this wrapper runs, in the order their weights are listed."""
        return [self.layer]

    def _build_inner(self, input_shape):
        """Builds every inner layer that is not built yet for ``input_shape`` and adopts
        their weights, in ``_inner_layers`` order."""
        for layer in self._inner_layers:
            if not layer.built:
                layer.build(input_shape)
            self._adopt_weights(layer)
        self.built = True

    def activity_penalty(self):
        """The wrapper's own activity penalty plus its inner layers': a model asks only
        its own layers, and the inner layers are not among them."""
        return super().activity_penalty() + sum(
            layer.activity_penalty() for layer in self._inner_layers)

    def get_config(self):
        from gru_py.layers import serialize

        config = super().get_config()
        config["layer"] = serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config):
        from gru_py.layers import deserialize

        config = dict(config)
        layer = deserialize(config.pop("layer"))
        return cls(layer, **config)


def _check_layer(owner, argument, layer):
    """Raises unless ``layer`` is a gru_py layer that a wrapper can run."""
    from gru_py.models.model import Model

    if not isinstance(layer, Layer):
        raise ValueError(
            f"{owner}: {argument} must be a gru_py layer instance, got {layer!r}")
    if isinstance(layer, Model):
        raise NotImplementedError(
            f"{owner}: wrapping a model is not supported yet, got {argument}={layer.name!r}")
