"""The demo: ``python -m gru_py`` trains a stacked GRU on the adding problem.

It uses the Keras-shaped API end to end (Sequential, compile, fit with a progress bar,
evaluate) and ends with the test MSE against the constant-guess baseline and the time
per epoch. Options: ``--length`` (timesteps), ``--units``, ``--epochs``, ``--samples``,
``--batch-size``, ``--seed``.
"""

import argparse
import sys
import time

import gru_py
from gru_py.datasets import ADDING_BASELINE_MSE, adding_problem


class _EpochTimer(gru_py.callbacks.Callback):
    """Records the wall time of every epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m gru_py", description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=50, help="timesteps per sequence")
    parser.add_argument("--units", type=int, default=64, help="units of the first GRU layer")
    parser.add_argument("--epochs", type=int, default=8, help="passes over the training set")
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
    gru_py.utils.set_random_seed(args.seed)
    x, y = adding_problem(args.samples, args.length, seed=args.seed)
    x_test, y_test = adding_problem(max(1, args.samples // 5), args.length, seed=args.seed + 1)
    blas = gru_py.blas_info()
    print(f"gru_py {gru_py.__version__} | {blas['config']} | {blas['num_threads']} threads")
    print(f"Adding problem: {args.samples} sequences of length {args.length}; the "
          f"constant-guess baseline MSE is {ADDING_BASELINE_MSE:.3f}")

    layers = gru_py.layers
    model = gru_py.Sequential([
        layers.GRU(args.units, return_sequences=True, input_shape=(None, 2)),
        layers.GRU(max(1, args.units // 2)),
        layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse")
    model.summary()
    timer = _EpochTimer()
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, validation_split=0.1,
              callbacks=[timer])
    test_mse = model.evaluate(x_test, y_test, verbose=0)
    per_epoch = sorted(timer.seconds)[len(timer.seconds) // 2]
    print(f"Test MSE {test_mse:.4f} against the constant-guess baseline "
          f"{ADDING_BASELINE_MSE:.3f}; {per_epoch:.2f} s per epoch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
