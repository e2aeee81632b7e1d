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

import numpy as np

from newsclf.errors import InputError
from trainer.preprocess import DEFAULT_OOV_TOKEN, PAD_ID

PAD_MULTIPLE = 16
"""Masked models pad a batch to its longest text rounded up to this (fewer shapes)."""

POOLINGS = ("last", "max")
"""How the BiLSTM's outputs become one vector: its final states, or a masked max over time."""


@dataclass
class ModelConfig:
    """Every hyper-parameter of a training run; stored as config.json in the artifact.

    The defaults are the ``default`` preset; ``PRESETS["seed"]`` lists what the
    tutorial used instead.
    """

    preset_name: str = "default"
    """Which preset these values started from (config.json calls it "preset")."""
    # The tutorial's hyper-parameters (its values: PRESETS["seed"]).
    vocab_size: int = 20000
    """Ids in the vocabulary, padding and OOV included (the tutorial's num_words)."""
    embedding_dim: int = 64
    max_length: int = 400
    """Ids kept per text (truncation); masked models pad a batch only to its longest text."""
    padding: str = "post"
    truncating: str = "post"
    oov_token: str = DEFAULT_OOV_TOKEN
    train_portion: float = 0.8
    epochs: int = 8
    batch_size: int = 32
    lstm_units: int = 64
    dense_units: int = 64
    learning_rate: float = 0.002
    seed: int = 42
    # Beyond the tutorial (the seed preset turns them off).
    mask_padding: bool = True
    """Embedding mask_zero: padding is skipped, so it cannot change a text's probabilities."""
    pooling: str = "max"
    """'last': the BiLSTM's final states (tutorial); 'max': a masked max over its outputs."""
    bag_head: bool = True
    """A second softmax head on the IDF-weighted mean of the word embeddings; the model
    outputs the mean of both heads' probabilities."""
    label_smoothing: float = 0.2
    """On the BiLSTM head's targets: keeps it from overruling the bag head with certainty."""
    lr_schedule: str = "cosine"
    """'cosine': decay to 2 % of learning_rate over the run; 'constant' (tutorial)."""
    dropout: float = 0.3
    """Dropout on each head's pooled features and after the Dense relu layer."""
    validation_portion: float = 0.0
    """Slice of the training data for validation curves and early stopping (0: none)."""
    patience: int = 0
    """Epochs without a better validation loss before stopping and restoring the best."""
    crop_probability: float = 0.0
    """Share of training texts replaced each epoch by a random prefix of themselves."""
    crop_min: int = 10
    """Shortest crop, in ids."""

    def __post_init__(self) -> None:
        problems = []
        choices = {"preset_name": PRESETS, "pooling": POOLINGS, "lr_schedule": ("cosine", "constant"),
                   "padding": ("post",), "truncating": ("post", "pre")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {', '.join(allowed)}")
        for name in ("vocab_size", "embedding_dim", "max_length", "epochs", "batch_size",
                     "lstm_units", "dense_units", "crop_min"):
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
        for name in ("dropout", "label_smoothing", "crop_probability"):
            if not 0 <= getattr(self, name) < 1 + (name == "crop_probability"):
                problems.append(f"{name} out of range")
        if problems:
            raise InputError("invalid model config: " + "; ".join(problems))

    @classmethod
    def preset(cls, name: str = "default", **overrides: Any) -> ModelConfig:
        """The named preset's settings, with ``overrides`` (None values ignored) on top."""
        if name not in PRESETS:
            raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        values = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
        return cls(preset_name=name, **values)

    def to_json(self) -> dict[str, Any]:
        """config.json: every field, the preset first under the key ``preset``."""
        values = dataclasses.asdict(self)
        return {"preset": values.pop("preset_name"), **values}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelConfig:
        """Back from config.json; keys this version does not know are ignored."""
        data = {"preset_name": data.get("preset", "default"), **data}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "seed": {
        "vocab_size": 5000,
        "max_length": 200,
        "epochs": 10,
        "learning_rate": 0.001,
        "mask_padding": False,
        "pooling": "last",
        "bag_head": False,
        "label_smoothing": 0.0,
        "lr_schedule": "constant",
        "dropout": 0.0,
        "validation_portion": 0.0,
        "patience": 0,
        "crop_probability": 0.0,
    },
}
"""Settings each preset changes from the ModelConfig defaults."""


def build_model(config: ModelConfig, n_classes: int) -> Any:
    """The served Keras model: int32 ids ``(batch, time)`` -> ``(batch, n_classes)`` probabilities.

    With ``bag_head`` its output is the mean of two heads (see ``training_model``);
    the IDF weights start at 1 and are set from the training data by ``set_idf``.
    """
    import keras
    from keras import layers

    pool_max, weighted_mean = custom_layers()
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    words = layers.Embedding(config.vocab_size, config.embedding_dim,
                             mask_zero=config.mask_padding, name="embedding")(ids)
    x = layers.Bidirectional(layers.LSTM(config.lstm_units, return_sequences=config.pooling != "last"),
                             name="bilstm")(words)
    if config.pooling == "max":
        x = pool_max(name="max_over_time")(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, seed=config.seed)(x)
    x = layers.Dense(config.dense_units, activation="relu", name="dense")(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, seed=config.seed + 1)(x)
    lstm_head = layers.Dense(n_classes, activation="softmax", name="lstm_probabilities")(x)
    if not config.bag_head:
        return keras.Model(ids, lstm_head, name=f"newsclf_{config.preset_name}")

    idf = layers.Embedding(config.vocab_size, 1, embeddings_initializer="ones", trainable=False,
                           name="idf")(ids)
    bag = weighted_mean(name="idf_mean")([words, idf])
    if config.dropout:
        bag = layers.Dropout(config.dropout, seed=config.seed + 2)(bag)
    bag_head = layers.Dense(n_classes, activation="softmax", name="bag_probabilities")(bag)
    probabilities = layers.Average(name="probabilities")([lstm_head, bag_head])
    return keras.Model(ids, probabilities, name=f"newsclf_{config.preset_name}")


def training_model(model: Any, config: ModelConfig, *, steps: int) -> Any:
    """``model`` with each head as an output of its own, compiled for ``steps`` updates.

    Each head has its own loss (the BiLSTM head's targets smoothed), so neither
    starves the other; ``train_on_batch`` takes one-hot targets for every output
    and reports the accuracy of the served (mean) output.
    """
    import keras

    heads = {"lstm": model.get_layer("lstm_probabilities").output}
    if config.bag_head:
        heads["bag"] = model.get_layer("bag_probabilities").output
        heads["served"] = model.output
    losses: dict[str, Any] = {
        "lstm": keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        "bag": keras.losses.CategoricalCrossentropy(),
        "served": None,
    }
    rate: Any = config.learning_rate
    if config.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, max(steps, 1), alpha=0.02)
    metrics = ["accuracy", keras.metrics.CategoricalCrossentropy()]
    if len(heads) == 1:  # a plain single-output model: Keras names its logs without a prefix
        trainer = keras.Model(model.input, heads["lstm"], name="training")
        trainer.compile(optimizer=keras.optimizers.Adam(rate), loss=losses["lstm"], metrics=metrics)
    else:
        trainer = keras.Model(model.input, heads, name="training")
        trainer.compile(
            optimizer=keras.optimizers.Adam(rate),
            loss={name: losses[name] for name in heads},
            metrics={"served": metrics},
        )
    trainer.head_names = list(heads)
    return trainer


def set_idf(model: Any, document_frequency: np.ndarray, n_documents: int) -> np.ndarray:
    """Set the bag head's word weights: smoothed IDF, 0 for padding. Returns them."""
    idf = np.log((1 + n_documents) / (1 + document_frequency)) + 1
    idf[PAD_ID] = 0.0
    weights = np.zeros((model.get_layer("idf").input_dim, 1), dtype=np.float32)
    weights[: len(idf), 0] = idf
    model.get_layer("idf").set_weights([weights])
    return idf


@functools.cache
def custom_layers() -> tuple[type, type]:
    """The two custom layers, defined and registered on first use (importing this module
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
        """sum(w * x) / sum(w) over the kept time steps of ``[x, w]``; zeros when sum(w) is 0."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs: Any, mask: Any = None) -> Any:
            values, weights = inputs
            mask = mask[0] if isinstance(mask, (list, tuple)) else mask
            if mask is not None:
                weights = ops.where(ops.expand_dims(ops.cast(mask, "bool"), -1), weights, 0.0)
            total = ops.sum(weights, axis=1)
            summed = ops.sum(values * weights, axis=1)
            return ops.where(total > 0, summed / ops.maximum(total, 1e-12), ops.zeros_like(summed))

        def compute_mask(self, inputs: Any, mask: Any = None) -> None:
            return None

        def compute_output_shape(self, shapes: Any) -> tuple[int | None, ...]:
            return (shapes[0][0], shapes[0][2])

    return MaskedGlobalMaxPooling1D, WeightedMaskedMean


def register_custom_layers() -> None:
    """Make the custom layers known to Keras before ``load_model(..., safe_mode=True)``."""
    custom_layers()
