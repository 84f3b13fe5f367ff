"""What the layer tests share: random weights and inputs, a scalar function of a layer's
outputs, and the check of a layer's backward against central differences.

The layers compute in float32. The central-difference step EPS is a power of two, so
that w + EPS is (nearly always) exact in float32. A difference with step ~1e-3 carries
rounding ~1e-7 * |f| / 1e-3 plus curvature ~EPS**2: CD_TOL is far above both and far
below a wrong gradient.
"""

import numpy as np
import reference as ref

EPS = 2.0**-10
CD_TOL = {"rtol": 2e-3, "atol": 2e-3}
# The same float32 computation organised differently (another batch size for the GEMMs,
# a sequence cut into steps or chunks), or float32 against the float64 reference.
FWD_TOL = {"rtol": 1e-5, "atol": 1e-5}


def randomize(layer, seed, scale=0.5):
    """U(-scale, scale) weights, biases included, so that a misplaced one shows."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.uniform(-scale, scale, w.shape) for w in layer.get_weights()])


def normal(seed, shape):
    """float32 values in a float64 array that central differences can nudge."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32).astype(
        np.float64)


def as_list(outputs):
    """A layer's result (one array, or a tuple of them) as a list."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def weighted_sum(outputs, weights):
    """sum(output * weight) in float64 over a list of outputs."""
    return float(sum(np.sum(np.asarray(o, np.float64) * w)
                     for o, w in zip(as_list(outputs), weights)))


def central_differences(f, array):
    return ref.numerical_gradient(f, array, eps=EPS)


def check_gradients(layer, x, states, w_seed, context, mask=None, dropout_seed=None):
    """Checks a recurrent layer's backward against central differences.

    The function differentiated is sum(output * w) over all of the layer's outputs, with
    w drawn from ``w_seed``; checked are the gradients of the input, of every initial
    state and of every weight.

    Args:
        layer: a built layer called as ``layer(x, mask=, training=, initial_state=)``.
        x, states: the input and the list of initial states (float32 values).
        context: what a failure message says about the case.
        mask: the (B, T) mask of every call, or None.
        dropout_seed: for a layer with dropout: every call runs in training mode with
            the cells' generators reseeded from it, so that every call uses the same
            masks.

    Returns:
        The backward's input gradient.
    """
    x = x.astype(np.float64)
    states = [s.astype(np.float64) for s in states]

    def run(training):
        if dropout_seed is not None:
            for cell in layer.cells:
                cell._rng = np.random.default_rng(dropout_seed)
        return as_list(layer(x.astype(np.float32), mask=mask, training=training,
                             initial_state=[s.astype(np.float32) for s in states]))

    outputs = run(training=True)
    w = [normal(w_seed + i, o.shape) for i, o in enumerate(outputs)]
    layer.zero_gradients()
    d_x, d_states = layer.backward(*[v.astype(np.float32) for v in w])

    def f():
        return weighted_sum(run(training=dropout_seed is not None), w)

    np.testing.assert_allclose(d_x, central_differences(f, x), **CD_TOL,
                               err_msg=f"d_x; {context}")
    assert len(d_states) == len(states), context
    for i, (d, s) in enumerate(zip(d_states, states)):
        np.testing.assert_allclose(d, central_differences(f, s), **CD_TOL,
                                   err_msg=f"initial state {i}; {context}")
    for i, weight in enumerate(layer.weights):
        np.testing.assert_allclose(layer.gradients[i], central_differences(f, weight),
                                   **CD_TOL, err_msg=f"weight {i}; {context}")
    return d_x
