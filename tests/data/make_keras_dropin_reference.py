"""Makes tests/data/keras_dropin1_reference.npz: DROP_IN.md program 1 trained by Keras.

Program 1 feeds Dense(10) outputs without softmax to categorical_crossentropy, so Keras
normalises raw scores by their sum and clips them, and its loss does not reliably fall.
This script records what Keras itself does on a fixed problem, so the test suite can
show gru_py reproduces it, wart included: the data, the initial weights (Keras layout)
and Keras' per-epoch losses, with shuffle=False so that both see the same batches.

Run with Keras 3 on TensorFlow (the benchmark environment has both):
    KERAS_BACKEND=tensorflow python tests/data/make_keras_dropin_reference.py
The test suite only reads the .npz; it never needs TensorFlow.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
N, T, F, CLASSES, EPOCHS = 64, 10, 8, 10, 10


def main():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, T, F)).astype(np.float32)
    labels = np.argmax(np.concatenate([x.sum(axis=1), -x.sum(axis=1)], axis=1)[:, :CLASSES],
                       axis=1)
    y = np.eye(CLASSES, dtype=np.float32)[labels]

    model = keras.Sequential([
        keras.Input(shape=(T, F)),
        keras.layers.GRU(128, return_sequences=True),
        keras.layers.GRU(64),
        keras.layers.Dense(CLASSES),
    ])
    # Initial weights drawn here (not by Keras' initializers) and stored with the data.
    weights = [(rng.uniform(-0.2, 0.2, w.shape)).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    model.compile(loss="categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(learning_rate=0.001))
    history = model.fit(x, y, epochs=EPOCHS, batch_size=32, shuffle=False, verbose=0)
    np.savez_compressed(
        os.path.join(HERE, "keras_dropin1_reference.npz"), x=x, y=y,
        losses=np.array(history.history["loss"], dtype=np.float64),
        keras_version=np.array(keras.__version__),
        **{f"weight_{i}": w for i, w in enumerate(weights)})
    print("losses", history.history["loss"])


if __name__ == "__main__":
    main()
