"""The model: a @dataclass config holding every hyper-parameter, and the network it builds.

Two presets::

    config = ModelConfig()                          # the default preset
    config = ModelConfig.preset("seed", epochs=3)   # the tutorial, faithfully
    model = build_model(config, n_classes=5)

``seed`` is the tutorial's network: Embedding(5000, 64) -> Bidirectional(LSTM 64)
-> Dense 64 relu -> Dense softmax (one unit per class, not the tutorial's six),
every text padded to 200 ids and the padding read as input.

``default`` masks the padding (Embedding ``mask_zero=True``), so a text's
probabilities do not depend on how much padding follows it: workers pad each
batch only to its longest text. It also pools over the BiLSTM outputs (a
masked max), adds dropout, trains on random crops of the articles (so short
texts such as an RSS title and sentence are classified sensibly), and stops
early on a validation slice of the training data, restoring the best weights.

Only layers that load with ``safe_mode=True``: Keras's own plus
``MaskedGlobalMaxPooling1D`` (``masked_max_pooling_class()``), registered as ``newsclf>...``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from newsclf.errors import InputError
from trainer.preprocess import DEFAULT_OOV_TOKEN

PAD_MULTIPLE = 16
"""Masked models pad a batch to its longest text rounded up to this (fewer shapes)."""

POOLINGS = ("last", "max")
"""How the BiLSTM's outputs become one vector: its final states, or a masked max over time."""


@dataclass
class ModelConfig:
    """Every hyper-parameter of a training run; stored as config.json in the artifact."""

    preset: str = "default"
    # The tutorial's settings.
    vocab_size: int = 5000
    embedding_dim: int = 64
    max_length: int = 200
    padding: str = "post"
    truncating: str = "post"
    oov_token: str = DEFAULT_OOV_TOKEN
    train_portion: float = 0.8
    epochs: int = 10
    batch_size: int = 32
    lstm_units: int = 64
    dense_units: int = 64
    learning_rate: float = 1e-3
    seed: int = 42
    # Beyond the tutorial (the seed preset turns them off).
    mask_padding: bool = True
    pooling: str = "max"
    dropout: float = 0.3
    """Dropout before and after the Dense relu layer."""
    validation_portion: float = 0.1
    """Slice of the training data for early stopping and the validation curves (0: none)."""
    patience: int = 4
    """Epochs without a better validation loss before stopping (0: train every epoch)."""
    crop_probability: float = 0.5
    """Share of training texts replaced each epoch by a random crop of themselves."""
    crop_min: int = 10
    """Shortest crop, in ids."""

    def __post_init__(self) -> None:
        problems = []
        if self.preset not in PRESETS:
            problems.append(f"preset must be one of {', '.join(PRESETS)}")
        if self.pooling not in POOLINGS:
            problems.append(f"pooling must be one of {', '.join(POOLINGS)}")
        if self.padding != "post" or self.truncating not in ("post", "pre"):
            problems.append("padding must be 'post', truncating 'post' or 'pre'")
        for name in ("vocab_size", "embedding_dim", "max_length", "epochs", "batch_size",
                     "lstm_units", "dense_units"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        if self.vocab_size < 3:
            problems.append("vocab_size must be at least 3 (padding, OOV and one word)")
        if not 0 < self.train_portion < 1:
            problems.append("train_portion must be between 0 and 1")
        if not 0 <= self.validation_portion < 1:
            problems.append("validation_portion must be in [0, 1)")
        if self.patience and not self.validation_portion:
            problems.append("early stopping (patience) needs a validation_portion")
        if not 0 <= self.dropout < 1 or not 0 <= self.crop_probability <= 1:
            problems.append("dropout must be in [0, 1) and crop_probability in [0, 1]")
        if problems:
            raise InputError("invalid model config: " + "; ".join(problems))

    @classmethod
    def preset(cls, name: str = "default", **overrides: Any) -> ModelConfig:
        """The named preset's settings, with ``overrides`` (None values ignored) on top."""
        if name not in PRESETS:
            raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        values = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
        return cls(preset=name, **values)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelConfig:
        """Back from config.json; keys this version does not know are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "seed": {
        "mask_padding": False,
        "pooling": "last",
        "dropout": 0.0,
        "validation_portion": 0.0,
        "patience": 0,
        "crop_probability": 0.0,
    },
}
"""Settings each preset changes from the ModelConfig defaults."""


def build_model(config: ModelConfig, n_classes: int) -> Any:
    """A compiled Keras model: int32 ids ``(batch, time)`` -> ``(batch, n_classes)`` softmax."""
    import keras
    from keras import layers

    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    x = layers.Embedding(config.vocab_size, config.embedding_dim, mask_zero=config.mask_padding,
                         name="embedding")(ids)
    sequences = config.pooling != "last"
    x = layers.Bidirectional(layers.LSTM(config.lstm_units, return_sequences=sequences),
                             name="bilstm")(x)
    if config.pooling == "max":
        x = masked_max_pooling_class()(name="max_over_time")(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, seed=config.seed)(x)
    x = layers.Dense(config.dense_units, activation="relu", name="dense")(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, seed=config.seed + 1)(x)
    probabilities = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    model = keras.Model(ids, probabilities, name=f"newsclf_{config.preset}")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@functools.cache
def masked_max_pooling_class() -> type:
    """The custom pooling layer, defined (and registered) lazily: no Keras import at import."""
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
            lowest = ops.full_like(inputs, -1e9)
            pooled = ops.max(ops.where(keep, inputs, lowest), axis=1)
            return ops.where(ops.any(keep, axis=1), pooled, ops.zeros_like(pooled))

        def compute_mask(self, inputs: Any, mask: Any = None) -> None:
            return None

        def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
            return (input_shape[0], input_shape[2])

    return MaskedGlobalMaxPooling1D


def register_custom_layers() -> None:
    """Make the custom layers known to Keras before ``load_model(..., safe_mode=True)``."""
    masked_max_pooling_class()
