"""Makes tests/data/keras_mask_reference.npz: what Keras' recurrent layers do with masks.

For GRU, LSTM and SimpleRNN, forwards and with go_backwards, with and without
zero_output_for_mask, on one batch whose mask holds a right-padded row, a left-padded
row, a fully masked row and a row with holes, from a non-zero initial state: Keras'
output sequence, last states and last output (return_sequences=False), and the
gradients of sum(outputs * cotangent) with respect to the inputs, the initial states
and every weight (TensorFlow's autodiff through Keras' per-step loop).

Run with Keras 3 on TensorFlow (the benchmark environment has both):
    KERAS_BACKEND=tensorflow python tests/data/make_keras_mask_reference.py
The test suite only reads the .npz; it never needs TensorFlow.
"""

import itertools
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
B, T, I, H = 4, 6, 3, 5
KINDS = ("GRU", "LSTM", "SimpleRNN")


def case_name(kind, go_backwards, zero_output):
    return f"{kind}/gb{int(go_backwards)}/zo{int(zero_output)}"


def main():
    rng = np.random.default_rng(7)
    data = {}
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    mask = np.ones((B, T), bool)
    mask[0, 4:] = False        # right-padded
    mask[1, :2] = False        # left-padded
    mask[2, :] = False         # fully masked
    mask[3, [1, 3]] = False    # holes
    data["x"], data["mask"] = x, mask
    for kind, go_backwards, zero_output in itertools.product(KINDS, (False, True),
                                                             (False, True)):
        name = case_name(kind, go_backwards, zero_output)
        layer = getattr(keras.layers, kind)(H, return_sequences=True, return_state=True,
                                            go_backwards=go_backwards)
        layer.build((B, T, I))
        layer.zero_output_for_mask = zero_output
        weights = [(rng.standard_normal(w.shape) * 0.4).astype(np.float32)
                   for w in layer.get_weights()]
        layer.set_weights(weights)
        states = [rng.standard_normal((B, H)).astype(np.float32)
                  for _ in range(2 if kind == "LSTM" else 1)]
        cotangent = rng.standard_normal((B, T, H)).astype(np.float32)
        xv = tf.Variable(x)
        sv = [tf.Variable(s) for s in states]
        with tf.GradientTape() as tape:
            out, *last = layer(xv, mask=mask, initial_state=sv)
            loss = tf.reduce_sum(out * cotangent)
        grads = tape.gradient(loss, [xv, *sv, *layer.trainable_weights])
        last_output = getattr(keras.layers, kind)(H, go_backwards=go_backwards)
        last_output.build((B, T, I))
        last_output.set_weights(weights)
        data[f"{name}/weights"] = np.array(len(weights))
        for i, w in enumerate(weights):
            data[f"{name}/w{i}"] = w
        for i, s in enumerate(states):
            data[f"{name}/state{i}"] = s
            data[f"{name}/last{i}"] = np.asarray(last[i])
            data[f"{name}/d_state{i}"] = np.asarray(grads[1 + i])
        data[f"{name}/cotangent"] = cotangent
        data[f"{name}/outputs"] = np.asarray(out)
        data[f"{name}/last_output"] = np.asarray(last_output(x, mask=mask,
                                                             initial_state=states))
        data[f"{name}/d_x"] = np.asarray(grads[0])
        for i, g in enumerate(grads[1 + len(states):]):
            data[f"{name}/d_w{i}"] = np.asarray(g)
    data["versions"] = np.array(f"keras {keras.__version__}, tensorflow {tf.__version__}")
    np.savez_compressed(os.path.join(HERE, "keras_mask_reference.npz"), **data)


if __name__ == "__main__":
    main()
