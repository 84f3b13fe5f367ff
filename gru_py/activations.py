"""Activation functions by name, as Keras resolves them, mapped to the core's codes.

Only the activations the C core implements are accepted; anything else raises a
ValueError listing the supported names, never a silent fallback.
"""

from gru_py._native import _core

_CODES = {
    "linear": _core.ACT_LINEAR,
    "sigmoid": _core.ACT_SIGMOID,
    "tanh": _core.ACT_TANH,
    "hard_sigmoid": _core.ACT_HARD_SIGMOID,
    "relu": _core.ACT_RELU,
    "softmax": _core.ACT_SOFTMAX,
}

#: Activations a recurrent layer accepts: every elementwise one (softmax is per row).
RECURRENT = ("linear", "sigmoid", "tanh", "hard_sigmoid", "relu")


def get(identifier, allowed=tuple(_CODES), argument="activation"):
    """Returns the canonical name of an activation.

    Args:
        identifier: a name such as ``"tanh"``, or None for ``"linear"`` (as in Keras).
        allowed: the names accepted in this position.
        argument: the argument's name, for the error message.

    Raises:
        ValueError: the name is unknown or not allowed here.
    """
    name = "linear" if identifier is None else identifier
    if not isinstance(name, str) or name not in allowed:
        raise ValueError(
            f"{argument} must be one of {sorted(allowed)} or None, got {identifier!r}"
        )
    return name


def code(name):
    """The core's integer code for a canonical activation name."""
    return _CODES[name]
