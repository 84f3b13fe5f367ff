"""Generate the PyTorch reference loss curve for ``Model.fit`` (Keras 3 semantics).

The model is Keras'
``Sequential([GRU(16, return_sequences=True), GRU(8), Dense(1)])``, built here from
two ``torch.nn.GRU`` and one ``torch.nn.Linear``. It is trained the way
``model.fit(x, y, batch_size=32, epochs=3, shuffle=False)`` trains after
``compile(optimizer=Adam(learning_rate=LEARNING_RATE), loss="mse")``:

* batches are consecutive slices of the data, the last one holding the remainder
  (N = 112 gives three batches of 32 and one of 16 per epoch, so the batch-size
  weighting of Keras' running-mean loss log is exercised);
* the loss is Keras' MSE, the mean of the squared errors over the batch;
* every step applies Keras 3's Adam, written out by hand below because it is not
  ``torch.optim.Adam``: ``m += (g - m)(1 - b1)``; ``v += (g^2 - v)(1 - b2)``;
  ``alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)``; ``w -= alpha * m / (sqrt(v) + eps)``,
  with ``eps`` added to the *uncorrected* ``sqrt(v)``.

Everything runs in float64, from float32 inputs and initial weights (the values
gru_py starts from). The data set (the adding problem) and the initial weights are
drawn with seeded NumPy generators in this script, the weights in the Keras layout,
then mapped to torch's.

Run it from the repository root with a private environment that has torch==2.13.0
and numpy installed::

    /tmp/torchenv/bin/python tests/data/make_fit_reference.py

torch is NOT a dependency of the package or of the test suite:
``tests/test_fit_reference.py`` only reads the .npz file written here.

Keys of ``tests/data/fit_reference.npz``:

* ``x`` (N, T, 2), ``y`` (N, 1): the data, float32;
* ``initial/0`` ... ``initial/7``: the initial weights in ``model.get_weights()``
  order (GRU 1 kernel, recurrent_kernel, bias; GRU 2 likewise; Dense kernel,
  bias), float32, Keras layout;
* ``batch_loss`` (steps,): the loss of every batch, computed before that batch's
  update, in training order (float64);
* ``batch_size_per_step`` (steps,): the number of samples in each of those batches;
* ``final/0`` ... ``final/7``: the weights after training, Keras layout, float64;
* ``final_float32/0`` ... ``final_float32/7`` and ``batch_loss_float32``: the same
  training rerun in float32 by torch, a measure of how far float32 rounding alone
  moves the results (used to justify the test's tolerances);
* ``batch_size``, ``epochs``, ``learning_rate``, ``beta_1``, ``beta_2``,
  ``epsilon``: the training settings; ``torch_version``: the torch build used.

Weight mapping (Keras GRU ``reset_after=True`` <-> torch): Keras kernels are
(in, 3H) with column blocks (z, r, h) and the bias is (2, 3H), rows = input and
recurrent biases; torch stores (3H, in) with row blocks (r, z, n) and two (3H,)
biases. So: swap the first two gate blocks, transpose, and stack / unstack the
biases. Dense: torch's weight is Keras' kernel transposed.
"""

import os

import numpy as np
import torch

N, T = 112, 12  # samples, timesteps
UNITS = (16, 8)  # the two GRU layers
BATCH_SIZE = 32
EPOCHS = 3
LEARNING_RATE = 0.01
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7
DATA_SEED = 2024
WEIGHT_SEED = 7

OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fit_reference.npz")


# -- data and initial weights (NumPy only) -------------------------------------------


def adding_problem(samples, length, rng):
    """Two channels per step, a U(0, 1) value and a marker set at one step of each half;
    the target is the sum of the two marked values."""
    values = rng.uniform(0.0, 1.0, (samples, length))
    markers = np.zeros((samples, length))
    rows = np.arange(samples)
    markers[rows, rng.integers(0, length // 2, samples)] = 1.0
    markers[rows, rng.integers(length // 2, length, samples)] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values * markers).sum(axis=1, keepdims=True).astype(np.float32)
    return x, y


def glorot_uniform(rng, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)


def orthogonal(rng, rows, cols):
    """A (rows, cols) matrix with orthonormal rows (rows <= cols), as Keras' default
    recurrent initializer gives."""
    q, r = np.linalg.qr(rng.standard_normal((cols, rows)))
    q *= np.sign(np.diag(r))
    return q.T.astype(np.float32)


def initial_weights(rng):
    """Keras-layout weights in get_weights() order. The biases are small and non-zero
    (Keras' default is zeros) so that both bias rows and their mapping are exercised."""
    weights = []
    fan_in = 2
    for units in UNITS:
        weights.append(glorot_uniform(rng, fan_in, 3 * units))
        weights.append(orthogonal(rng, units, 3 * units))
        weights.append(rng.uniform(-0.1, 0.1, (2, 3 * units)).astype(np.float32))
        fan_in = units
    weights.append(glorot_uniform(rng, fan_in, 1))
    weights.append(rng.uniform(-0.1, 0.1, (1,)).astype(np.float32))
    return weights


# -- Keras <-> torch layouts ---------------------------------------------------------


def swap_first_two_blocks(w, hidden):
    """(z | r | h) <-> (r | z | n) along axis 0; the map is its own inverse."""
    return np.concatenate([w[hidden:2 * hidden], w[:hidden], w[2 * hidden:]], axis=0)


def keras_gru_to_torch(kernel, recurrent_kernel, bias, hidden):
    """Keras (in, 3H), (H, 3H), (2, 3H) -> torch weight_ih, weight_hh, bias_ih, bias_hh."""
    return (swap_first_two_blocks(kernel.T, hidden),
            swap_first_two_blocks(recurrent_kernel.T, hidden),
            swap_first_two_blocks(bias[0], hidden),
            swap_first_two_blocks(bias[1], hidden))


def torch_gru_to_keras(weight_ih, weight_hh, bias_ih, bias_hh, hidden):
    """The inverse of keras_gru_to_torch."""
    return (swap_first_two_blocks(weight_ih, hidden).T,
            swap_first_two_blocks(weight_hh, hidden).T,
            np.stack([swap_first_two_blocks(bias_ih, hidden),
                      swap_first_two_blocks(bias_hh, hidden)]))


class StackedGRU(torch.nn.Module):
    """GRU(16, return_sequences=True) -> GRU(8) -> Dense(1), batch-first."""

    def __init__(self, keras_weights, dtype):
        super().__init__()
        self.grus = torch.nn.ModuleList()
        fan_in = 2
        for i, units in enumerate(UNITS):
            gru = torch.nn.GRU(fan_in, units, batch_first=True, dtype=dtype)
            mapped = keras_gru_to_torch(*keras_weights[3 * i:3 * i + 3], units)
            for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                    "bias_hh_l0"), mapped):
                getattr(gru, name).data = torch.tensor(value, dtype=dtype)
            self.grus.append(gru)
            fan_in = units
        self.dense = torch.nn.Linear(fan_in, 1, dtype=dtype)
        self.dense.weight.data = torch.tensor(keras_weights[6].T, dtype=dtype)
        self.dense.bias.data = torch.tensor(keras_weights[7], dtype=dtype)

    def forward(self, x):
        sequence, _ = self.grus[0](x)  # zero initial state, as Keras
        _, last = self.grus[1](sequence)
        return self.dense(last[0])

    def keras_weights(self):
        weights = []
        for gru, units in zip(self.grus, UNITS):
            weights.extend(torch_gru_to_keras(
                *(getattr(gru, n).detach().numpy() for n in
                  ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")), units))
        weights.append(self.dense.weight.detach().numpy().T)
        weights.append(self.dense.bias.detach().numpy())
        return [np.ascontiguousarray(w) for w in weights]


class KerasAdam:
    """Keras 3's Adam update (see the module docstring), by hand on torch tensors."""

    def __init__(self, params):
        self.params = list(params)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.iterations = 0

    @torch.no_grad()
    def step(self):
        t = self.iterations + 1
        alpha = LEARNING_RATE * np.sqrt(1.0 - BETA_2 ** t) / (1.0 - BETA_1 ** t)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m += (g - m) * (1.0 - BETA_1)
            v += (g * g - v) * (1.0 - BETA_2)
            p -= alpha * m / (torch.sqrt(v) + EPSILON)
        self.iterations += 1


def train(x, y, weights, dtype):
    """fit(batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=False): the loss of every batch
    (before its update), the batch sizes and the final Keras-layout weights."""
    model = StackedGRU(weights, dtype)
    optimizer = KerasAdam(model.parameters())
    x_t = torch.tensor(x, dtype=dtype)
    y_t = torch.tensor(y, dtype=dtype)
    losses, sizes = [], []
    for _ in range(EPOCHS):
        for start in range(0, len(x), BATCH_SIZE):
            xb, yb = x_t[start:start + BATCH_SIZE], y_t[start:start + BATCH_SIZE]
            model.zero_grad()
            loss = ((model(xb) - yb) ** 2).mean()  # Keras MSE, sum_over_batch_size
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            sizes.append(len(xb))
    return np.array(losses), np.array(sizes), model.keras_weights()


def main():
    torch.use_deterministic_algorithms(True)
    x, y = adding_problem(N, T, np.random.default_rng(DATA_SEED))
    weights = initial_weights(np.random.default_rng(WEIGHT_SEED))

    # The layout maps must round-trip exactly before anything is trained.
    check = StackedGRU(weights, torch.float64).keras_weights()
    for w, back in zip(weights, check):
        assert back.shape == w.shape and np.array_equal(back, w)

    losses, sizes, final = train(x, y, weights, torch.float64)
    losses32, _, final32 = train(x, y, weights, torch.float32)

    arrays = {
        "x": x, "y": y, "batch_loss": losses, "batch_size_per_step": sizes,
        "batch_loss_float32": losses32,
        "batch_size": np.array(BATCH_SIZE), "epochs": np.array(EPOCHS),
        "learning_rate": np.array(LEARNING_RATE), "beta_1": np.array(BETA_1),
        "beta_2": np.array(BETA_2), "epsilon": np.array(EPSILON),
        "torch_version": np.array(torch.__version__),
    }
    for i, (w0, w1, w32) in enumerate(zip(weights, final, final32)):
        arrays[f"initial/{i}"] = w0
        arrays[f"final/{i}"] = w1
        arrays[f"final_float32/{i}"] = w32
    np.savez_compressed(OUT_PATH, **arrays)

    print(f"wrote {OUT_PATH} ({os.path.getsize(OUT_PATH)} bytes)")
    print("batch losses:", np.array2string(losses, precision=5))
    print("float32 rerun, max |loss difference|: "
          f"{np.max(np.abs(losses32 - losses)):.3e}")
    worst = max(np.max(np.abs(a - b)) for a, b in zip(final32, final))
    moved = max(np.max(np.abs(a - b)) for a, b in zip(final, weights))
    print(f"float32 rerun, max |weight difference|: {worst:.3e} "
          f"(largest weight change in training: {moved:.3e})")


if __name__ == "__main__":
    main()
