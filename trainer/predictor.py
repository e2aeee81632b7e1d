"""The one way trainer, workers, benchmarks and tests turn texts into labels::

    predictor = Predictor.load("models/20261128-121530-3f9a1c")   # verified first
    [p.label for p in predictor.predict(["Shares fell sharply in early trading..."])]
    probabilities = predictor.predict_proba(texts)                 # (n, n_classes) float32

Texts go through exactly the training preprocessing (``trainer.preprocess``).
Batches are sorted by length and each is padded only to its own longest text
(rounded up to a multiple of ``PAD_MULTIPLE``) for a masked model, or always to
``max_length`` for the unmasked seed preset; one compiled ``tf.function``
(shape ``[None, None]``, traced once) runs them, and the artifact's temperature
(config.json, fitted by the trainer) scales what it returns. A text gets the same
probabilities alone, in any batch and at any padding length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsclf.trainer.artifact import read_json, verify_artifact
from newsclf.trainer.layers import register_custom_layers
from newsclf.trainer.model import PAD_MULTIPLE, ModelConfig
from newsclf.trainer.preprocess import Vocabulary, pad


def temperature_scaled(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / temperature), row by row, float32: for a softmax output p that is
    softmax(logits / temperature). Temperature 1 returns ``probabilities`` unchanged."""
    if temperature == 1:
        return probabilities
    logits = np.log(np.maximum(probabilities.astype(np.float64), 1e-300)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Prediction:
    """One text's label, its probability, and the probability of every label."""

    label: str
    confidence: float
    probabilities: dict[str, float]


class Predictor:
    """A loaded model with its vocabulary, labels and config."""

    version: str
    labels: list[str]
    config: ModelConfig
    path: Path

    def __init__(
        self,
        model: Any,
        vocab: Vocabulary,
        labels: Sequence[str],
        config: ModelConfig,
        *,
        version: str = "",
        path: str | Path = "",
    ) -> None:
        """Wrap an in-memory model (the trainer does this); others use ``load``."""
        import tensorflow as tf

        self.model = model
        self.vocab = vocab
        self.labels = list(labels)
        self.config = config
        self.version = version
        self.path = Path(path)
        self._run = tf.function(
            lambda ids: model(ids, training=False),
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
            reduce_retracing=True,
        )

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        """Verify the artifact's manifest, then load it (``safe_mode=True``)."""
        import keras

        path = Path(path)
        manifest = verify_artifact(path)
        register_custom_layers()
        model = keras.models.load_model(path / "model.keras", compile=False, safe_mode=True)
        return cls(
            model,
            Vocabulary.from_json(read_json(path, "vocab.json")),
            read_json(path, "labels.json"),
            ModelConfig.from_json(read_json(path, "config.json")),
            version=str(manifest["version"]),
            path=path,
        )

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token ids of each text, cut to ``max_length``, not padded."""
        cfg = self.config
        return [self.vocab.encode_text(t, cfg.max_length, cfg.truncating) for t in texts]

    def padded_length(self, longest: int) -> int:
        """Padding length for a batch whose longest text has ``longest`` ids."""
        if not self.config.mask_padding:
            return self.config.max_length
        rounded = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
        return max(1, min(rounded, self.config.max_length))

    def predict_encoded(self, seqs: Sequence[np.ndarray], batch_size: int = 512) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` float32 of id sequences, in input order."""
        out = np.zeros((len(seqs), len(self.labels)), dtype=np.float32)
        order = np.argsort([len(s) for s in seqs], kind="stable")
        for start in range(0, len(order), max(batch_size, 1)):
            rows = order[start : start + batch_size]
            batch = [seqs[i] for i in rows]
            length = self.padded_length(max(len(s) for s in batch))
            out[rows] = self.run_padded(pad(batch, length, self.config.padding))
        return out

    def run_padded(self, ids: np.ndarray) -> np.ndarray:
        """The compiled model on one already padded ``(batch, time)`` int32 matrix, its
        probabilities scaled by the artifact's temperature (every caller gets the same)."""
        raw = np.asarray(self._run(np.asarray(ids, dtype=np.int32)), dtype=np.float32)
        return temperature_scaled(raw, self.config.temperature)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 512) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` float32 of raw texts, in input order."""
        return self.predict_encoded(self.encode(texts), batch_size)

    def predict(self, texts: Sequence[str], batch_size: int = 512) -> list[Prediction]:
        """Label, confidence and every label's probability, per text."""
        probabilities = self.predict_proba(texts, batch_size)
        return [self._prediction(row) for row in probabilities]

    def _prediction(self, row: np.ndarray) -> Prediction:
        best = int(np.argmax(row))
        return Prediction(
            label=self.labels[best],
            confidence=float(row[best]),
            probabilities={label: float(p) for label, p in zip(self.labels, row, strict=True)},
        )
