"""Assertions the numerical tests share: float32 results compared with a float64
reference, absolutely for forward values and relative to the array's scale for
gradients (a gradient's small entries carry the rounding of its large ones); and the
margin that keeps random cases off the kinks of relu and hard_sigmoid."""

import numpy as np

#: Forward values against the float64 reference (float32 rounding through T steps).
FORWARD_ATOL = 1e-5
#: Gradients, relative to max |want| of the array.
GRAD_RTOL = 1e-4


def assert_float32(got, shape, what, context):
    assert isinstance(got, np.ndarray) and got.dtype == np.float32, (
        f"{what}: expected a float32 array, got {type(got).__name__} "
        f"{getattr(got, 'dtype', '')}; {context}")
    assert got.shape == shape, f"{what}: shape {got.shape}, expected {shape}; {context}"


def assert_abs(got, want, what, context, atol=FORWARD_ATOL):
    assert_float32(got, np.shape(want), what, context)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol,
                               err_msg=f"{what} differs (atol={atol}); {context}")


def assert_scaled(got, want, what, context, rtol=GRAD_RTOL):
    """got == want within rtol relative to the scale max|want|."""
    assert_float32(got, np.shape(want), what, context)
    scale = float(np.max(np.abs(want)))
    np.testing.assert_allclose(
        got, want, rtol=rtol, atol=rtol * scale,
        err_msg=f"{what} differs (rtol={rtol} of scale {scale:.3g}); {context}")


# relu and hard_sigmoid have kinks where the derivative jumps. Near a kink the float32
# core and the float64 reference may fall on different sides (and a central difference
# straddles it), so cases are drawn with every pre-activation at least KINK_MARGIN away:
# far beyond float32 rounding (~1e-6 here) and the 1e-6 finite-difference steps.
KINKS = {"relu": (0.0,), "hard_sigmoid": (-3.0, 3.0)}
KINK_MARGIN = 1e-3
#: How many consecutive seeds a test tries for a case that stays off the kinks.
SEED_TRIES = 100
#: Activations without bounds (None is linear): states and gates can grow through them.
UNBOUNDED = (None, "linear", "relu")


def kink_distance(owners, values):
    """Smallest distance of any pre-activation to a kink of the activation it feeds.

    Args:
        owners: {key: activation name} for the pre-activations that matter.
        values: a callable returning {key: array}; called only when some owner has kinks.

    Returns:
        The distance, or inf when no owner has a kink.
    """
    if not any(name in KINKS for name in owners.values()):
        return np.inf
    arrays = values()
    return min(float(np.min(np.abs(arrays[key] - kink)))
               for key, name in owners.items() for kink in KINKS.get(name, ()))
