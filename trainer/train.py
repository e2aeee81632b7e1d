"""Training: one labeled file in, one verified artifact out::

    result = train("bbc-text.csv", models_dir="models")                   # default preset
    result = train("train.csv", test_path="test.csv", config=ModelConfig.preset("seed"))
    result.version, result.path, result.evaluation.accuracy, result.artifact_sha256

``train`` reads top to bottom: read the data, drop duplicate texts (and any
text of the external test file), split, build the vocabulary from the training
texts only, fit epoch by epoch, evaluate on the held-out texts with the same
``Predictor`` the workers use, and write the artifact. Nothing is written to a
database: the caller registers the returned ``TrainResult``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsclf.errors import InputError
from newsclf.trainer.artifact import artifact_sha256, write_artifact
from newsclf.trainer.data import LabeledData, drop_duplicates, read_labeled, stratified_split
from newsclf.trainer.evaluate import (
    Evaluation,
    evaluate_labels,
    expected_calibration_error,
    fit_temperature,
)
from newsclf.trainer.layers import bigram_ids
from newsclf.trainer.model import ModelConfig, build_model, set_idf, training_step
from newsclf.trainer.plots import plot_confusion, plot_history
from newsclf.trainer.predictor import Predictor, temperature_scaled
from newsclf.trainer.preprocess import OOV_ID, Vocabulary, pad, tokenize

SHORT_TEXT_WORDS = 30
"""Held-out texts are also scored cut to their first words: an RSS item's length."""

BUCKET_BATCHES = 4
"""Training batches are formed from length-sorted chunks of this many batches (less padding)."""


@dataclass
class TrainResult:
    """Everything a caller needs to register the model (nothing is written to SQL here)."""

    version: str
    path: Path
    artifact_sha256: str
    config: ModelConfig
    labels: list[str]
    evaluation: Evaluation
    metrics: dict[str, Any]
    """metrics.json: the evaluation, short-text accuracy, history, timings."""
    data: dict[str, Any]
    """data.json: training file sha256 and path, rows, skipped rows, duplicates, split sizes
    (``test_*`` keys for an external test file)."""
    history: dict[str, list[float]]
    train_seconds: float
    n_train: int
    n_validation: int
    n_test: int
    epochs_run: int
    best_epoch: int
    test_texts: list[str]
    test_labels: list[str]
    test_probabilities: np.ndarray
    """The trainer's own held-out probabilities, rows in test_texts order."""


def train(
    data_path: str | Path | LabeledData,
    *,
    test_path: str | Path | LabeledData | None = None,
    config: ModelConfig | None = None,
    models_dir: str | Path | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train on ``data_path``, evaluate on ``test_path`` (or a held-out split), write an artifact.
    Either may be a file or data already read (``read_labeled``, ``labeled_rows``)."""
    import keras

    say = progress or (lambda _message: None)
    config = config or ModelConfig()
    if models_dir is None:
        from newsclf.settings import get_settings

        models_dir = get_settings().models_dir
    started = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    # 1. Data: read, drop duplicates (never a test text in training), split.
    columns = {"text_column": text_column, "label_column": label_column}
    data = _labeled(data_path, columns)
    say(f"read {len(data)} rows from {data.path}" + _skipped(data))
    external_test = _labeled(test_path, columns) if test_path else None
    if external_test:
        say(f"read {len(external_test)} test rows from {external_test.path}" + _skipped(external_test))
    data, n_duplicates = drop_duplicates(data, also_in=external_test.texts if external_test else ())
    if external_test:
        train_set, test_set = data, external_test
    else:
        train_idx, test_idx = stratified_split(data.labels, config.train_portion, config.seed)
        train_set, test_set = data.subset(train_idx), data.subset(test_idx)
    fit_set, val_set = train_set, None
    if config.validation_portion:
        fit_idx, val_idx = stratified_split(train_set.labels, 1 - config.validation_portion, config.seed + 1)
        fit_set, val_set = train_set.subset(fit_idx), train_set.subset(val_idx)
    labels = sorted(set(fit_set.labels))
    if len(labels) < 2:
        raise InputError(f"training needs at least two labels; {data.path} has {labels}")
    say(f"{n_duplicates} duplicate texts dropped; training on {len(fit_set)}, validating on "
        f"{len(val_set) if val_set else 0}, testing on {len(test_set)}; labels: {', '.join(labels)}")

    # 2. Preprocessing: the shared tokenizer; a vocabulary of the training texts only.
    fit_tokens = [tokenize(text) for text in fit_set.texts]
    vocab = Vocabulary.fit(fit_tokens, size=config.vocab_size, oov_token=config.oov_token)
    fit_ids = [vocab.encode(tokens, config.max_length, config.truncating) for tokens in fit_tokens]
    fit_y = _label_ids(fit_set.labels, labels)

    # 3. Model: the served network, and a view of it with one output per head for training.
    model = build_model(config, len(labels))
    if config.bag_head or config.tfidf_head:
        set_idf(model, _document_frequency(fit_ids, vocab.size), len(fit_ids))
    if config.bigram_buckets:
        pairs = [bigram_ids(ids, config.bigram_buckets) for ids in fit_ids]
        set_idf(model, _document_frequency(pairs, config.bigram_buckets + 1), len(fit_ids), "bigram_idf")
    pretrained = 0
    if config.embeddings:
        vectors, pretrained = read_embeddings(config.embeddings, vocab, config.embedding_dim)
        start = model.get_layer("embedding").get_weights()[0]
        found = ~np.isnan(vectors[:, 0])
        start[found] = vectors[found]
        model.get_layer("embedding").set_weights([start])
        say(f"{pretrained} of {vocab.size - 2} vocabulary words start from {config.embeddings}")
    steps_per_epoch = math.ceil(len(fit_ids) / config.batch_size)
    step = training_step(model, config, steps=config.epochs * steps_per_epoch)
    predictor = Predictor(model, vocab, labels, config)
    val_ids = predictor.encode(val_set.texts) if val_set else []
    val_y = _label_ids(val_set.labels, labels) if val_set else np.zeros(0, dtype=np.int64)

    # 4. Fit, epoch by epoch; keep the weights of the best validation loss.
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    best_loss, best_weights, best_epoch = math.inf, None, config.epochs
    for epoch in range(1, config.epochs + 1):
        epoch_started = time.perf_counter()
        served = []  # (probabilities, labels) of every batch, as the model saw it while training
        for x, y in epoch_batches(fit_ids, fit_y, config, rng, predictor.padded_length):
            served.append((step(x, np.eye(len(labels), dtype=np.float32)[y]).numpy(), y))
        probabilities, seen = np.concatenate([p for p, _ in served]), np.concatenate([y for _, y in served])
        history["loss"].append(_cross_entropy(probabilities, seen))
        history["accuracy"].append(float(np.mean(probabilities.argmax(axis=1) == seen)))
        line = f"epoch {epoch}/{config.epochs}  loss {history['loss'][-1]:.4f}  accuracy {history['accuracy'][-1]:.4f}"
        if val_set:
            probabilities = predictor.predict_encoded(val_ids)
            history["val_loss"].append(_cross_entropy(probabilities, val_y))
            history["val_accuracy"].append(float(np.mean(probabilities.argmax(axis=1) == val_y)))
            line += f"  val_loss {history['val_loss'][-1]:.4f}  val_accuracy {history['val_accuracy'][-1]:.4f}"
            if history["val_loss"][-1] < best_loss:
                best_loss, best_weights, best_epoch = history["val_loss"][-1], model.get_weights(), epoch
        say(f"{line}  ({time.perf_counter() - epoch_started:.1f} s)")
        if config.patience and epoch - best_epoch >= config.patience:
            say(f"early stop: no better validation loss since epoch {best_epoch}")
            break
    if best_weights is not None and config.patience:
        model.set_weights(best_weights)
    else:
        best_epoch = epoch

    # 5. Calibrate: the temperature that makes the validation slice's confidences honest.
    calibration: dict[str, Any] = {"temperature": config.temperature, "fitted_on": 0}
    if config.calibrate and val_set:
        val_probabilities = predictor.predict_encoded(val_ids)
        config = dataclasses.replace(config, temperature=fit_temperature(val_probabilities, val_y))
        predictor = Predictor(model, vocab, labels, config)
        calibration = {"temperature": config.temperature, "fitted_on": len(val_set)}
        say(f"temperature {config.temperature:.3f}, fitted on {len(val_set)} validation texts")

    # 6. Evaluate on the held-out texts, through the Predictor the workers use.
    test_probabilities = predictor.predict_proba(test_set.texts)
    predicted = [labels[i] for i in test_probabilities.argmax(axis=1)]
    evaluation = evaluate_labels(test_set.labels, predicted, labels,
                                 confidences=test_probabilities.max(axis=1))
    raw = temperature_scaled(test_probabilities, 1 / config.temperature)  # the network's own
    calibration["ece_at_temperature_1"] = expected_calibration_error(
        raw.max(axis=1), np.array(predicted) == np.array(test_set.labels))
    short_texts = [" ".join(text.split()[:SHORT_TEXT_WORDS]) for text in test_set.texts]
    short_predicted = [labels[i] for i in predictor.predict_proba(short_texts).argmax(axis=1)]
    short_accuracy = float(np.mean([p == t for p, t in zip(short_predicted, test_set.labels, strict=True)]))
    train_seconds = time.perf_counter() - started
    say(f"held-out accuracy {evaluation.accuracy:.4f}, macro-F1 {evaluation.macro_f1:.4f}, "
        f"ECE {evaluation.ece:.4f}; first {SHORT_TEXT_WORDS} words only: accuracy {short_accuracy:.4f}")

    # 7. The artifact: written into a staging directory, then renamed into place.
    metrics = {
        **evaluation.to_json(),
        "short_text": {"words": SHORT_TEXT_WORDS, "accuracy": short_accuracy},
        "short_text_accuracy": short_accuracy,
        "calibration": calibration,
        "pretrained_words": pretrained,
        "history": history,
        "epochs_run": epoch,
        "best_epoch": best_epoch,
        "train_seconds": train_seconds,
    }
    data_info = {
        **_file_info(data, rows=len(data) + n_duplicates),
        **({f"test_{k}": v for k, v in _file_info(external_test).items()} if external_test else {}),
        "duplicates_dropped": n_duplicates,
        "n_train": len(fit_set),
        "n_validation": len(val_set) if val_set else 0,
        "n_test": len(test_set),
        "label_counts": {label: fit_set.labels.count(label) for label in labels},
        "oov_rate": vocab.oov_rate(test_set.texts),  # drift baseline; texts the vocab never saw
    }
    path = write_artifact(
        models_dir,
        files={
            "vocab.json": vocab.to_json(),
            "labels.json": labels,
            "config.json": config.to_json(),
            "metrics.json": metrics,
            "data.json": data_info,
        },
        model=model,
        plots=lambda d: (plot_history(history, d / "accuracy_loss.png"),
                         plot_confusion(evaluation, d / "confusion.png")),
    )
    say(f"wrote {path}")
    return TrainResult(
        version=path.name, path=path, artifact_sha256=artifact_sha256(path), config=config,
        labels=labels, evaluation=evaluation, metrics=metrics, data=data_info, history=history,
        train_seconds=train_seconds, n_train=len(fit_set), n_validation=data_info["n_validation"],
        n_test=len(test_set), epochs_run=epoch, best_epoch=best_epoch,
        test_texts=list(test_set.texts), test_labels=list(test_set.labels),
        test_probabilities=test_probabilities,
    )


def epoch_batches(
    seqs: Sequence[np.ndarray],
    y: np.ndarray,
    config: ModelConfig,
    rng: np.random.Generator,
    padded_length: Callable[[int], int],
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of padded ``(ids, label ids)`` batches, in a seeded random order.

    Some texts are cut to a random prefix (``crop_probability``), a share of the
    ids become OOV (``word_dropout``); batches come from length-sorted chunks, each
    padded as the Predictor pads it.
    """
    seqs = [_crop(s, config.crop_min, rng) if rng.random() < config.crop_probability else s
            for s in seqs]
    if config.word_dropout:
        seqs = [np.where(rng.random(len(s)) < config.word_dropout, OOV_ID, s).astype(s.dtype)
                for s in seqs]
    order = rng.permutation(len(seqs))
    size = config.batch_size
    batches: list[np.ndarray] = []
    chunk = size * (BUCKET_BATCHES if config.mask_padding else 1)
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: len(seqs[i]))
        batches.extend(np.array(part[k : k + size]) for k in range(0, len(part), size))
    for b in rng.permutation(len(batches)):
        rows = batches[b]
        length = padded_length(max(len(seqs[i]) for i in rows))
        yield pad([seqs[i] for i in rows], length, config.padding), y[rows]


def read_embeddings(path: str | Path, vocab: Vocabulary, dim: int) -> tuple[np.ndarray, int]:
    """Vectors of the vocabulary's words from a GloVe / word2vec text file (``word v1 ... vd``
    per line; a word2vec ``count dim`` header line is skipped): a ``(vocab.size, dim)``
    float32 matrix, NaN rows for words the file lacks, and how many it had."""
    path = Path(path)
    out = np.full((vocab.size, dim), np.nan, dtype=np.float32)
    found = 0
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                parts = line.rstrip().split(" ")
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec header
                if len(parts) < 2:
                    continue
                if len(parts) - 1 != dim:
                    raise InputError(f"{path} line {number} has a {len(parts) - 1}-wide vector; "
                                     f"the embeddings are {dim} wide (--embedding-dim {len(parts) - 1})")
                i = vocab.index.get(parts[0])
                if i is None or not np.isnan(out[i, 0]):
                    continue
                try:
                    out[i] = np.array(parts[1:], dtype=np.float32)
                except ValueError:
                    raise InputError(f"{path} line {number}: not a word and {dim} numbers") from None
                found += 1
    except OSError as exc:
        raise InputError(f"cannot read embeddings {path}: {exc.strerror or exc}") from None
    return out, found


def _crop(seq: np.ndarray, shortest: int, rng: np.random.Generator) -> np.ndarray:
    if len(seq) <= shortest:
        return seq
    return seq[: int(rng.integers(shortest, len(seq) + 1))]


def _document_frequency(seqs: Sequence[np.ndarray], size: int) -> np.ndarray:
    df = np.zeros(size, dtype=np.float64)
    for seq in seqs:
        df[np.unique(seq)] += 1
    return df


def _label_ids(values: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index[v] for v in values], dtype=np.int64)


def _cross_entropy(probabilities: np.ndarray, y: np.ndarray) -> float:
    picked = probabilities[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))


def _labeled(source: str | Path | LabeledData, columns: dict[str, Any]) -> LabeledData:
    return source if isinstance(source, LabeledData) else read_labeled(source, **columns)


def _skipped(data: LabeledData) -> str:
    return f"; {data.skip_summary()}" if data.skipped else ""


def _file_info(data: LabeledData, rows: int | None = None) -> dict[str, Any]:
    """A data file's identity and what reading it skipped (data.json)."""
    return {
        "path": str(data.path),
        "sha256": data.sha256,
        "rows": rows if rows is not None else len(data),
        "skipped": data.skipped,
        "skipped_lines": data.skipped_lines,
        "skip_reasons": data.skip_reasons,
    }
