"""Keras-shaped layers over the C core."""

from gru_py.layers.base import Layer
from gru_py.layers.bidirectional import Bidirectional
from gru_py.layers.core import (
    Activation,
    Dropout,
    Flatten,
    Input,
    InputLayer,
    Masking,
    Reshape,
)
from gru_py.layers.dense import Dense
from gru_py.layers.embedding import Embedding
from gru_py.layers.gru import GRU, GRUCell
from gru_py.layers.lstm import LSTM, LSTMCell
from gru_py.layers.merging import Add, Concatenate
from gru_py.layers.rnn import RNN
from gru_py.layers.simple_rnn import SimpleRNN, SimpleRNNCell
from gru_py.layers.time_distributed import TimeDistributed
from gru_py.layers.wrapper import Wrapper

_CLASSES = {cls.__name__: cls for cls in (
    Activation, Add, Bidirectional, Concatenate, Dense, Dropout, Embedding, Flatten, GRU,
    GRUCell, InputLayer, LSTM, LSTMCell, Masking, Reshape, RNN, SimpleRNN, SimpleRNNCell,
    TimeDistributed)}


def serialize(layer):
    """``{"class_name": ..., "config": ...}`` for a layer, JSON-compatible."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config):
    """Rebuilds a layer from :func:`serialize`'s output.

    Raises:
        ValueError: an unknown class name.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a layer config must be a dict with a class_name, got {config!r}")
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(
            f"unknown layer class {config['class_name']!r}; known: {sorted(_CLASSES)}")
    return cls.from_config(config.get("config", {}))


__all__ = sorted(_CLASSES) + ["Input", "Layer", "Wrapper", "deserialize", "serialize"]
