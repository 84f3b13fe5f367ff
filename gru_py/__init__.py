"""gru_py: gated recurrent networks with a C core and a Keras-shaped API.

Layers live in :mod:`gru_py.layers`; the low-level functional API over the C core in
:mod:`gru_py.ops`.
"""

from gru_py import activations, initializers, layers, ops
from gru_py._native import _core

__version__ = "0.1.0"


def blas_info():
    """Describes the BLAS library the core uses.

    Returns:
        A dict with ``"config"``, OpenBLAS's build string (version, architecture,
        threading), and ``"num_threads"``, the number of threads it uses.
    """
    return {"config": _core.blas_config(), "num_threads": _core.get_num_threads()}


__all__ = ["activations", "blas_info", "initializers", "layers", "ops", "__version__"]
