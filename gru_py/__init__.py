"""gru_py: gated recurrent networks with a C core and a Keras-shaped API.

Module paths mirror Keras: ``gru_py.layers``, ``gru_py.models``, ``gru_py.optimizers``
(with ``.schedules``), ``gru_py.losses``, ``gru_py.metrics``, ``gru_py.callbacks``,
``gru_py.regularizers``, ``gru_py.initializers``, ``gru_py.activations``,
``gru_py.utils``; ``gru_py.Sequential``, ``gru_py.Model`` and ``gru_py.Input`` sit at the
top. The low-level functional API over the C core is :mod:`gru_py.ops`.
"""

import sys

from gru_py import (
    activations,
    callbacks,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    regularizers,
    saving,
    utils,
)
from gru_py._native import _core
from gru_py.layers import Input
from gru_py.models import Model, Sequential

__version__ = "0.1.0"

# `import gru_py as tf` then `tf.keras.layers.GRU(...)`: Keras programs written against
# tf.keras run after changing only the import line.
keras = sys.modules[__name__]


def get_num_threads():
    """The number of threads gru_py computes with: its OpenBLAS's thread count, which
    also sets how many threads a recurrent layer splits its batch over."""
    return _core.get_num_threads()


def set_num_threads(num_threads):
    """Sets the number of threads gru_py computes with (1 to 1024).

    ``OPENBLAS_NUM_THREADS`` sets the starting value, and threadpoolctl's
    ``threadpool_limits`` controls it too, since gru_py's OpenBLAS is the one it sees.
    """
    if isinstance(num_threads, bool) or not isinstance(num_threads, int):
        raise TypeError(f"num_threads must be an int, got {num_threads!r}")
    _core.set_num_threads(num_threads)


def blas_info():
    """Describes the BLAS library the core uses.

    Returns:
        A dict with ``"config"``, OpenBLAS's build string (version, architecture,
        threading), and ``"num_threads"``, the number of threads it uses.
    """
    return {"config": _core.blas_config(), "num_threads": _core.get_num_threads()}


__all__ = [
    "Input", "Model", "Sequential", "activations", "blas_info", "callbacks", "get_num_threads",
    "initializers", "keras", "set_num_threads",
    "layers", "losses", "metrics", "models", "ops", "optimizers", "regularizers", "saving",
    "utils", "__version__",
]
