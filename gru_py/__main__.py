"""The demo: ``python -m gru_py`` trains a GRU on the adding problem.

It drives the layers by hand (forward, loss gradient, backward, Adam update), reports
the test MSE against the constant-guess baseline and the time per epoch. Options:
``--length`` (timesteps), ``--units``, ``--epochs``, ``--seed``.
"""

import argparse
import sys
import time

import numpy as np

import gru_py
from gru_py.datasets import ADDING_BASELINE_MSE, adding_problem
from gru_py.layers import GRU, Dense


class _Adam:
    """Keras 3's Adam update (epsilon outside the bias correction) on a list of arrays."""

    def __init__(self, params, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.params = params
        self.lr, self.b1, self.b2, self.eps = learning_rate, beta_1, beta_2, epsilon
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.iterations = 0

    def apply(self, grads):
        self.iterations += 1
        t = self.iterations
        alpha = self.lr * np.sqrt(1 - self.b2**t) / (1 - self.b1**t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (g - m) * (1 - self.b1)
            v += (g * g - v) * (1 - self.b2)
            p -= alpha * m / (np.sqrt(v) + self.eps)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m gru_py", description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=50, help="timesteps per sequence")
    parser.add_argument("--units", type=int, default=64, help="GRU units")
    parser.add_argument("--epochs", type=int, default=6, help="passes over the training set")
    parser.add_argument("--samples", type=int, default=10000, help="training sequences")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("length", "units", "epochs", "samples", "batch_size"):
        if getattr(args, name) < (2 if name == "length" else 1):
            parser.error(f"--{name.replace('_', '-')} is too small: {getattr(args, name)}")
    return args


def main(argv=None):
    args = _parse(argv)
    x, y = adding_problem(args.samples, args.length, seed=args.seed)
    x_test, y_test = adding_problem(max(1, args.samples // 5), args.length, seed=args.seed + 1)
    blas = gru_py.blas_info()
    print(f"gru_py {gru_py.__version__} | {blas['config']} | {blas['num_threads']} threads")
    print(f"Adding problem: {args.samples} sequences of length {args.length}; "
          f"GRU({args.units}) -> Dense(1), Adam, batch {args.batch_size}")

    init = gru_py.initializers
    gru = GRU(args.units, kernel_initializer=init.GlorotUniform(args.seed),
              recurrent_initializer=init.Orthogonal(seed=args.seed))
    head = Dense(1, kernel_initializer=init.GlorotUniform(args.seed))
    gru.build(x.shape)
    head.build((None, args.units))
    layers = (gru, head)
    optimizer = _Adam([w for layer in layers for w in layer.weights])
    grads = [g for layer in layers for g in layer.gradients]
    rng = np.random.default_rng(args.seed)

    epoch_times = []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        order = rng.permutation(len(x))
        for first in range(0, len(x), args.batch_size):
            batch = order[first:first + args.batch_size]
            pred = head(gru(x[batch], training=True), training=True)
            # d(mean squared error)/d(pred), the mean taken over the batch
            gru.backward(head.backward(2.0 * (pred - y[batch]) / len(batch)))
            optimizer.apply(grads)
            for g in grads:
                g.fill(0.0)
        epoch_times.append(time.perf_counter() - start)
        test_mse = float(np.mean((head(gru(x_test)) - y_test) ** 2))
        print(f"Epoch {epoch + 1}/{args.epochs} - {epoch_times[-1]:.1f}s - "
              f"test_mse: {test_mse:.4f}", flush=True)

    print(f"Test MSE {test_mse:.4f} against the constant-guess baseline "
          f"{ADDING_BASELINE_MSE:.3f}; {np.median(epoch_times):.2f} s per epoch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
