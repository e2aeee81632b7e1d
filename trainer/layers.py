"""The custom Keras layers of the default model, registered for ``safe_mode=True`` loading.

They are defined on first use, so importing trainer/ does not import Keras::

    MaskedMax, WeightedMean, FirstIds, TfIdfLinear, HashedBigrams = custom_layers()
    register_custom_layers()        # before keras.models.load_model(..., safe_mode=True)

Each one respects the padding mask so that a text's probabilities do not depend
on how much padding follows it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from newsclf.trainer.preprocess import OOV_ID


@functools.cache
def custom_layers() -> tuple[type, type, type, type, type]:
    """The custom layers, defined and registered on first use (importing this module
    does not import Keras). ``load_model(..., safe_mode=True)`` needs them registered."""
    import keras
    from keras import layers, ops

    @keras.saving.register_keras_serializable(package="newsclf")
    class MaskedGlobalMaxPooling1D(layers.Layer):
        """Max over the time steps the mask keeps; zeros for a text with none."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs: Any, mask: Any = None) -> Any:
            if mask is None:
                return ops.max(inputs, axis=1)
            keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
            pooled = ops.max(ops.where(keep, inputs, ops.full_like(inputs, -1e9)), axis=1)
            return ops.where(ops.any(keep, axis=1), pooled, ops.zeros_like(pooled))

        def compute_mask(self, inputs: Any, mask: Any = None) -> None:
            return None

        def compute_output_shape(self, shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
            return (shape[0], shape[2])

    @keras.saving.register_keras_serializable(package="newsclf")
    class WeightedMaskedMean(layers.Layer):
        """sum(w * x) over the kept time steps of ``[x, w]``, divided by sum(w) (``l1``) or
        by sqrt(sum(w**2)) (``l2``, as a TF-IDF vector is normalised); zeros when all w are 0."""

        def __init__(self, norm: str = "l1", **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.norm = norm
            self.supports_masking = True

        def call(self, inputs: Any, mask: Any = None) -> Any:
            values, weights = inputs
            mask = mask[0] if isinstance(mask, (list, tuple)) else mask
            if mask is not None:
                weights = ops.where(ops.expand_dims(ops.cast(mask, "bool"), -1), weights, 0.0)
            total = ops.sum(weights, axis=1) if self.norm == "l1" else ops.sqrt(ops.sum(weights**2, axis=1))
            summed = ops.sum(values * weights, axis=1)
            return ops.where(total > 0, summed / ops.maximum(total, 1e-12), ops.zeros_like(summed))

        def compute_mask(self, inputs: Any, mask: Any = None) -> None:
            return None

        def compute_output_shape(self, shapes: Any) -> tuple[int | None, ...]:
            return (shapes[0][0], shapes[0][2])

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "norm": self.norm}

    @keras.saving.register_keras_serializable(package="newsclf")
    class FirstIds(layers.Layer):
        """The first ``length`` columns of an id matrix (all of them when it is shorter)."""

        def __init__(self, length: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.length = length

        def call(self, ids: Any) -> Any:
            return ids[:, : self.length]

        def compute_output_shape(self, shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
            return (shape[0], None if shape[1] is None else min(shape[1], self.length))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "length": self.length}

    @keras.saving.register_keras_serializable(package="newsclf")
    class TfIdfLinear(layers.Layer):
        """A linear model on each text's TF-IDF vector, as scikit-learn's
        ``TfidfVectorizer(sublinear_tf=True)`` makes it: ids ``(batch, time)`` -> logits
        ``(batch, units)``. A word's entry is ``(1 + log count) * idf``, the vector divided by
        its L2 norm, then ``vector @ kernel + bias``. ``idf`` (a frozen weight, set from the
        training texts) is 0 for padding and OOV, so padding changes nothing."""

        def __init__(self, vocab_size: int, units: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.vocab_size, self.units = vocab_size, units

        def build(self, shape: tuple[int | None, ...]) -> None:
            self.idf = self.add_weight(shape=(self.vocab_size,), initializer="ones", trainable=False,
                                       name="idf")
            self.kernel = self.add_weight(shape=(self.vocab_size, self.units), initializer="zeros",
                                          name="kernel")
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

        def call(self, ids: Any) -> Any:
            # Per token rather than per vocabulary word (a text has far fewer): a word seen c
            # times has the entry v = (1 + log c) * idf, so each of its c tokens adds v / c of
            # its kernel row, and its v**2 / c to the squared norm.
            ids = ops.where(ops.logical_and(ids >= 0, ids < self.vocab_size), ids, ops.zeros_like(ids))
            counts = ops.cast(ops.take_along_axis(ops.bincount(ids, minlength=self.vocab_size), ids, axis=1),
                              "float32")
            entry = (1 + ops.log(counts)) * ops.take(self.idf, ids)
            norm = ops.sqrt(ops.sum(entry**2 / counts, axis=1, keepdims=True))
            share = ops.where(norm > 0, entry / counts / ops.maximum(norm, 1e-12), 0.0)
            return ops.einsum("bt,btu->bu", share, ops.take(self.kernel, ids, axis=0)) + self.bias

        def compute_output_shape(self, shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
            return (shape[0], self.units)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "vocab_size": self.vocab_size, "units": self.units}

    @keras.saving.register_keras_serializable(package="newsclf")
    class HashedBigrams(layers.Layer):
        """Ids ``(batch, time)`` -> bigram ids ``(batch, time - 1)``: each pair of neighbouring
        known words hashed into ``1..buckets``; 0 (padding) where either is padding or OOV.
        ``bigram_ids`` is the same function in numpy."""

        def __init__(self, buckets: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.buckets = buckets

        def call(self, ids: Any) -> Any:
            left = ops.cast(ids[:, :-1], "int64")
            right = ops.cast(ids[:, 1:], "int64")
            hashed = ops.mod(left * BIGRAM_MULTIPLIER + right, self.buckets) + 1
            known = ops.logical_and(left > OOV_ID, right > OOV_ID)
            return ops.cast(ops.where(known, hashed, ops.zeros_like(hashed)), "int32")

        def compute_output_shape(self, shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
            return (shape[0], None if shape[1] is None else max(shape[1] - 1, 0))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "buckets": self.buckets}

    return MaskedGlobalMaxPooling1D, WeightedMaskedMean, FirstIds, TfIdfLinear, HashedBigrams


BIGRAM_MULTIPLIER = 1_000_003
"""The bigram hash: ``(left * BIGRAM_MULTIPLIER + right) % buckets + 1`` (ids below 2**31)."""


def bigram_ids(ids: np.ndarray, buckets: int) -> np.ndarray:
    """``HashedBigrams`` in numpy, for one unpadded id sequence (the trainer's bigram IDF)."""
    left, right = ids[:-1].astype(np.int64), ids[1:].astype(np.int64)
    hashed = (left * BIGRAM_MULTIPLIER + right) % buckets + 1
    return np.where((left > OOV_ID) & (right > OOV_ID), hashed, 0).astype(np.int32)


def register_custom_layers() -> None:
    """Make the custom layers known to Keras before ``load_model(..., safe_mode=True)``."""
    custom_layers()
