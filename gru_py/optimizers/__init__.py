"""Optimizers with Keras 3's names, defaults and update rules, on NumPy float32 arrays.

An optimizer updates the arrays it is given in place::

    opt = optimizers.Adam(learning_rate=1e-3)
    opt.apply_gradients(zip(layer.gradients, layer.trainable_weights))

Learning-rate schedules are in :mod:`gru_py.optimizers.schedules`. Optimizer state
(slot arrays and the iteration count) is saved with ``get_slot_state()`` and restored
with ``set_slot_state(state)``; the configuration with ``get_config()`` /
:func:`serialize`.
"""

from gru_py.optimizers import schedules
from gru_py.optimizers.adagrad import Adagrad
from gru_py.optimizers.adam import Adam, AdamW
from gru_py.optimizers.base import Optimizer
from gru_py.optimizers.rmsprop import RMSprop
from gru_py.optimizers.sgd import SGD

# Keras resolves names case-insensitively through the lower-cased class names.
_BY_NAME = {cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)}


def serialize(optimizer):
    """A JSON-compatible ``{"class_name": ..., "config": {...}}`` for an optimizer.

    Raises:
        ValueError: ``optimizer`` is not an Optimizer, or its learning rate is a plain
            callable.
    """
    if not isinstance(optimizer, Optimizer):
        raise ValueError(
            f"optimizer must be a gru_py Optimizer, got {type(optimizer).__name__}")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None):
    """Rebuilds an optimizer (without state) from :func:`serialize`'s output.

    Args:
        config: ``{"class_name": ..., "config": {...}}``; built-in class names match
            case-insensitively, and Keras' extra keys (``"module"``,
            ``"registered_name"``) are ignored.
        custom_objects: optional ``{name: class}`` for user-defined optimizers and
            schedules.

    Raises:
        ValueError: not such a dict, or an unknown class name.
    """
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(
            "optimizer config must be a dict with 'class_name' and 'config', "
            f"got {config!r}")
    name = config["class_name"]
    custom_objects = dict(custom_objects or {})
    cls = custom_objects.get(name) or _BY_NAME.get(name.lower())
    if cls is None:
        raise ValueError(
            f"optimizer config has unknown class_name {name!r}; expected one of "
            f"{sorted(_BY_NAME)} (pass custom_objects for your own optimizers)")
    return cls.from_config(dict(config.get("config") or {}), custom_objects=custom_objects)


def get(identifier):
    """Resolves an optimizer the way Keras does.

    Args:
        identifier: a name (``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``,
            ``"adagrad"``, case-insensitive, so class names work too; gives an
            optimizer with default arguments), a config dict as produced by
            :func:`serialize`, an Optimizer instance (returned as is), or None
            (returns None).

    Raises:
        ValueError: the identifier is not recognised.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"optimizer must be one of {sorted(_BY_NAME)}, got {identifier!r}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")


__all__ = [
    "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "deserialize", "get",
    "schedules", "serialize",
]
