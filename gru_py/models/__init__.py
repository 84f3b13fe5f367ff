"""Models: Sequential, the functional Model, saving and cloning."""

from gru_py.models.model import Model
from gru_py.models.sequential import Sequential


def load_model(filepath, compile=True):
    """Loads a model written by ``model.save`` (see :mod:`gru_py.saving`)."""
    from gru_py import saving

    return saving.load_model(filepath, compile=compile)


def clone_model(model):
    """A new model with the same architecture and freshly initialised weights."""
    return type(model).from_config(model.get_config())


__all__ = ["Model", "Sequential", "clone_model", "load_model"]
