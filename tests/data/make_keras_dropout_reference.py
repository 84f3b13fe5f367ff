"""Makes tests/data/keras_dropout_reference.npz: Keras' recurrent layers in training with
given dropout masks.

Keras draws its dropout masks inside the cell; this script hands each cell fixed masks
instead (by replacing the cell's get_dropout_mask / get_recurrent_dropout_mask), so that
gru_py can be run on the very same masks. Cases: GRU (reset_after True and False), LSTM
and SimpleRNN, each with input dropout alone (one mask shared by the gates, Keras'
implementation 2) and with input and recurrent dropout (one mask per gate,
implementation 1). Stored: the masks (multipliers), weights, outputs, last states and
the gradients of sum(outputs * cotangent) with respect to the inputs and weights.

Run with Keras 3 on TensorFlow (the benchmark environment has both):
    KERAS_BACKEND=tensorflow python tests/data/make_keras_dropout_reference.py
The test suite only reads the .npz; it never needs TensorFlow.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
B, T, I, H = 3, 5, 4, 6
RATE = 0.3
CASES = {  # name: (layer class, constructor arguments, gate blocks)
    "GRU": ("GRU", {}, 3),
    "GRU_reset_before": ("GRU", {"reset_after": False}, 3),
    "LSTM": ("LSTM", {}, 4),
    "SimpleRNN": ("SimpleRNN", {}, 1),
}


def multipliers(rng, shape):
    return ((rng.random(shape) >= RATE) / (1.0 - RATE)).astype(np.float32)


def as_keras_mask(m):
    """What a Keras cell's get_*dropout_mask returns: a list per gate, one array, or
    None without that dropout."""
    if m is None:
        return None
    return list(m) if m.ndim == 3 else m


def main():
    rng = np.random.default_rng(11)
    data = {"x": rng.standard_normal((B, T, I)).astype(np.float32)}
    for name, (kind, kwargs, gates) in CASES.items():
        for recurrent in (False, True):
            key = f"{name}/{'recurrent' if recurrent else 'input'}"
            layer = getattr(keras.layers, kind)(
                H, return_sequences=True, return_state=True, dropout=RATE,
                recurrent_dropout=RATE if recurrent else 0.0, **kwargs)
            layer.build((B, T, I))
            weights = [(rng.standard_normal(w.shape) * 0.4).astype(np.float32)
                       for w in layer.get_weights()]
            layer.set_weights(weights)
            # Per-gate masks when recurrent dropout switches Keras to implementation 1
            # (a SimpleRNN cell always takes one mask).
            per_gate = recurrent and gates > 1
            shape_in = (gates, B, I) if per_gate else (B, I)
            shape_rec = (gates, B, H) if per_gate else (B, H)
            mask_in = multipliers(rng, shape_in)
            mask_rec = multipliers(rng, shape_rec) if recurrent else None
            cell = layer.cell
            cell.get_dropout_mask = lambda _, m=mask_in: as_keras_mask(m)
            cell.get_recurrent_dropout_mask = lambda _, m=mask_rec: as_keras_mask(m)
            cotangent = rng.standard_normal((B, T, H)).astype(np.float32)
            xv = tf.Variable(data["x"])
            with tf.GradientTape() as tape:
                out, *last = layer(xv, training=True)
                loss = tf.reduce_sum(out * cotangent)
            grads = tape.gradient(loss, [xv, *layer.trainable_weights])
            data[f"{key}/weights"] = np.array(len(weights))
            for i, w in enumerate(weights):
                data[f"{key}/w{i}"] = w
                data[f"{key}/d_w{i}"] = np.asarray(grads[1 + i])
            data[f"{key}/dropout_mask"] = mask_in
            if recurrent:
                data[f"{key}/recurrent_dropout_mask"] = mask_rec
            data[f"{key}/cotangent"] = cotangent
            data[f"{key}/outputs"] = np.asarray(out)
            for i, s in enumerate(last):
                data[f"{key}/last{i}"] = np.asarray(s)
            data[f"{key}/d_x"] = np.asarray(grads[0])
    data["versions"] = np.array(f"keras {keras.__version__}, tensorflow {tf.__version__}")
    np.savez_compressed(os.path.join(HERE, "keras_dropout_reference.npz"), **data)


if __name__ == "__main__":
    main()
