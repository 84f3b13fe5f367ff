"""Assertions the numerical tests share: float32 results compared with a float64
reference, absolutely for forward values and relative to the array's scale for
gradients (a gradient's small entries carry the rounding of its large ones)."""

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
