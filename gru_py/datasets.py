"""Synthetic sequence tasks that need no download.

The adding problem (Hochreiter & Schmidhuber, 1997) is the standard long-memory test
for recurrent networks: each sequence has two channels, random values in [0, 1) and a
marker that is 1 at exactly two steps (one in each half); the target is the sum of the
two marked values. Guessing the mean (1.0) scores an MSE of 1/6, about 0.167, so a
model has learned the task only well below that.
"""

import numpy as np

#: MSE of always predicting the target's mean, 1.0: the variance of a sum of two
#: independent U(0, 1) values, 2 * (1 / 12).
ADDING_BASELINE_MSE = 1.0 / 6.0


def adding_problem(samples, length, seed=None):
    """Makes an adding-problem data set.

    Args:
        samples: number of sequences N (>= 1).
        length: timesteps T per sequence (>= 2).
        seed: seed of the random generator, or None.

    Returns:
        (x, y): x (N, T, 2) float32 [value, marker] per step, y (N, 1) float32 targets.
    """
    if int(samples) < 1 or int(length) < 2:
        raise ValueError(
            f"adding_problem needs samples >= 1 and length >= 2, got samples={samples}, "
            f"length={length}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, (samples, length))
    markers = np.zeros((samples, length))
    rows = np.arange(samples)
    markers[rows, rng.integers(0, length // 2, samples)] = 1.0
    markers[rows, rng.integers(length // 2, length, samples)] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values * markers).sum(axis=1, keepdims=True).astype(np.float32)
    return x, y
