"""Keras-shaped layers over the C core."""

from gru_py.layers.base import Layer
from gru_py.layers.dense import Dense
from gru_py.layers.gru import GRU

__all__ = ["Dense", "GRU", "Layer"]
