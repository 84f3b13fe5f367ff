"""Keras-style configs: rebuilding objects from them (losses, metrics) and showing
objects by them (schedules, regularizers)."""

import inspect


def from_class_config(kind, config, by_class, builtin_classes, custom_objects):
    """The object a ``{"class_name": ..., "config": {...}}`` dict describes.

    Args:
        kind: "loss" or "metric", for messages.
        config: the config dict.
        by_class: {class name: class} of the built-in classes.
        builtin_classes: the classes whose config keys are checked against their
            constructor (unknown keys mean a foreign or corrupt config).
        custom_objects: {name: class} supplied by the user, looked up first.

    Raises:
        ValueError: an unknown class name, or config keys the class does not take.
    """
    class_name = config.get("class_name")
    cls = custom_objects.get(class_name) or by_class.get(class_name)
    if cls is None:
        raise ValueError(f"{kind} config has unknown class_name {class_name!r}; expected one "
                         f"of {sorted(by_class)} or a key of custom_objects")
    kwargs = dict(config.get("config") or {})
    if cls in builtin_classes:
        unknown = set(kwargs) - set(inspect.signature(cls.__init__).parameters)
        if unknown:
            raise ValueError(f"{class_name} config has unknown keys {sorted(unknown)}")
    return cls.from_config(kwargs)


def config_repr(obj):
    """``ClassName(key=value, ...)`` from obj.get_config(), or ``ClassName()`` for an
    object that has no config."""
    try:
        args = ", ".join(f"{k}={v!r}" for k, v in obj.get_config().items())
    except NotImplementedError:
        args = ""
    return f"{type(obj).__name__}({args})"
