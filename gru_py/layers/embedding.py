"""Embedding: integer ids (..., ) -> vectors (..., output_dim), by table lookup."""

import numpy as np

from gru_py import initializers, regularizers
from gru_py.layers.base import Layer


class Embedding(Layer):
    """Turns integer ids in [0, input_dim) into rows of a trained table (Keras 3).

    Args:
        input_dim: vocabulary size.
        output_dim: vector size.
        embeddings_initializer: "uniform" (U(-0.05, 0.05), Keras' default), ...
        embeddings_regularizer: a penalty added to the training loss.
        mask_zero: whether id 0 is padding: the output then carries the mask
            ``ids != 0`` (see :meth:`compute_mask`), and ``input_dim`` should be the
            vocabulary size plus one.

    Weights: ``embeddings`` (input_dim, output_dim).
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, **kwargs):
        kwargs.pop("input_length", None)  # Keras 2's argument, ignored by Keras 3 too
        super().__init__(**kwargs)
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"Embedding: {arg} must be a positive integer, got {value!r}")
        if mask_zero not in (True, False):
            raise ValueError(f"Embedding: mask_zero must be True or False, got {mask_zero!r}")
        self._reject_unsupported(embeddings_constraint=(embeddings_constraint, None),
                                 lora_rank=(lora_rank, None))
        self.mask_zero = bool(mask_zero)
        # As in Keras: only a layer that makes a mask propagates one.
        self.supports_masking = self.mask_zero
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self._initial_weights = weights
        self._ids = None

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
            regularizer=self.embeddings_regularizer)
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def call(self, inputs, training=False):
        ids = np.asarray(inputs)
        if ids.dtype.kind == "f":
            if not np.isfinite(ids).all() or (ids != np.floor(ids)).any():
                raise ValueError("Embedding: inputs must be integer ids, got non-integer values")
        elif ids.dtype.kind not in "iub":
            raise TypeError(f"Embedding: inputs must be integer ids, got dtype {ids.dtype}")
        ids = ids.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise ValueError(
                f"Embedding: ids must be in [0, {self.input_dim}), got values in "
                f"[{ids.min()}, {ids.max()}]")
        self._ids = ids if training else None
        return self.embeddings[ids]

    def compute_mask(self, inputs, mask=None):
        """With ``mask_zero``, the mask ``ids != 0`` of the ids' shape, e.g. (B, T);
        otherwise None. An incoming mask is ignored, as in Keras."""
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def backward(self, d_output):
        if self._ids is None:
            raise RuntimeError(f"{self.name}: backward needs a preceding call with training=True")
        # Scatter-add: an id used several times in the batch collects every gradient.
        np.add.at(self.gradients[0], self._ids.reshape(-1),
                  np.reshape(d_output, (-1, self.output_dim)))
        return None  # integer ids have no gradient

    def get_config(self):
        config = super().get_config()
        config.update(
            input_dim=self.input_dim,
            output_dim=self.output_dim,
            embeddings_initializer=initializers.serialize(self.embeddings_initializer),
            embeddings_regularizer=regularizers.serialize(self.embeddings_regularizer),
            embeddings_constraint=None,
            mask_zero=self.mask_zero,
        )
        return config
