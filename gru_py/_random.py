"""gru_py's global random state: what unseeded initializers, dropout masks and
shuffling in fit draw from. ``gru_py.utils.set_random_seed`` resets it, so one seed makes
a whole training run reproducible (with the same thread count)."""

import numpy as np

_generator = np.random.default_rng()


def generator():
    """The global numpy.random.Generator."""
    return _generator


def set_seed(seed):
    """Replaces the global generator with one seeded by ``seed`` (an int >= 0)."""
    global _generator
    _generator = np.random.default_rng(seed)


def new_generator(seed=None):
    """A generator of its own: seeded by ``seed``, or by a draw from the global one, so
    that objects created after set_random_seed are reproducible too."""
    if seed is None:
        seed = int(_generator.integers(2**63 - 1))
    return np.random.default_rng(seed)
