"""Training, top to bottom: read, dedup, split, preprocess, fit, evaluate, write the artifact.

    from trainer.model import ModelConfig
    from trainer.train import train
    result = train("bbc-text.csv", config=ModelConfig.preset("default", epochs=10, seed=1))
    result.path, result.evaluation.accuracy

With ``test_path`` the whole data file trains (its texts that also appear in
the test file are dropped) and the test file is the held-out set; otherwise a
stratified, seeded split of the deduplicated data. Early stopping and the
validation curves use a stratified slice of the *training* data, never the
test set.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsclf.errors import InputError
from trainer.artifact import artifact_sha256, write_artifact
from trainer.data import LabeledData, drop_duplicates, read_labeled, stratified_split
from trainer.evaluate import Evaluation, evaluate_labels
from trainer.model import ModelConfig, build_model
from trainer.plots import plot_confusion, plot_history
from trainer.predictor import Predictor
from trainer.preprocess import Vocabulary, pad, tokenize

SHORT_TEXT_WORDS = 30
"""Held-out articles cut to their first words: how the model fares on RSS-like items."""

BUCKET_BATCHES = 4
"""Training batches are drawn from chunks of this many batches sorted by length."""


@dataclass
class TrainResult:
    version: str
    path: Path
    metrics: dict[str, Any]
    evaluation: Evaluation
    train_seconds: float
    n_train: int
    n_test: int
    artifact_sha256: str
    test_probabilities: np.ndarray
    """The trained model's probabilities on the held-out texts, in their order."""
    test_texts: list[str]


def _say(progress: Callable[[str], Any] | None, line: str) -> None:
    if progress is not None:
        progress(line)


def _split(
    data_path: Path,
    test_path: Path | None,
    config: ModelConfig,
    columns: dict[str, str | None],
    progress: Callable[[str], Any] | None,
) -> tuple[LabeledData, LabeledData, dict[str, Any]]:
    data = read_labeled(data_path, **columns)
    if data.skipped:
        _say(progress, f"{data_path}: {data.skip_summary()}")
    info: dict[str, Any] = {
        "sha256": data.sha256,
        "path": str(data_path),
        "rows": len(data),
        "skipped": data.skipped,
        "skipped_lines": data.skipped_lines,
    }
    if test_path is not None:
        test = read_labeled(test_path, **columns)
        train, dropped = drop_duplicates(data, also_in=test.texts)
        info.update(test_sha256=test.sha256, test_path=str(test_path), test_skipped=test.skipped)
    else:
        unique, dropped = drop_duplicates(data)
        first, second = stratified_split(unique.labels, config.train_portion, config.seed)
        train, test = unique.subset(first), unique.subset(second)
    info.update(duplicates_dropped=dropped, n_train=len(train), n_test=len(test))
    _say(
        progress, f"{len(train)} training texts, {len(test)} held out, {dropped} duplicates dropped"
    )
    if len(train) == 0 or len(test) == 0:
        raise InputError("not enough distinct labeled texts to train and evaluate")
    return train, test, info


def _batches(
    seqs: Sequence[np.ndarray], y: np.ndarray, config: ModelConfig, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch: random crops (short-text augmentation), length buckets, per-batch padding."""
    epoch = [
        _crop(s, config.crop_min, rng) if rng.random() < config.crop_probability else s
        for s in seqs
    ]
    order = rng.permutation(len(epoch))
    bs = config.batch_size
    batches: list[np.ndarray] = []
    if config.mask_padding:  # similar lengths together: less padding, same result
        chunk = bs * BUCKET_BATCHES
        for i in range(0, len(order), chunk):
            part = sorted(order[i : i + chunk], key=lambda j: len(epoch[j]))
            batches += [np.array(part[k : k + bs]) for k in range(0, len(part), bs)]
        rng.shuffle(batches)  # type: ignore[arg-type]
    else:
        batches = [order[i : i + bs] for i in range(0, len(order), bs)]
    for b in batches:
        rows = [epoch[j] for j in b]
        length = max(1, max(len(r) for r in rows)) if config.mask_padding else config.max_length
        yield pad(rows, length, config.padding), y[b]


def _crop(seq: np.ndarray, shortest: int, rng: np.random.Generator) -> np.ndarray:
    if len(seq) <= shortest:
        return seq
    return seq[: int(rng.integers(shortest, len(seq) + 1))]


def _loss_and_accuracy(probs: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    picked = probs[np.arange(len(y)), y]
    return float(-np.mean(np.log(picked + 1e-9))), float(np.mean(probs.argmax(axis=1) == y))


def train(
    data_path: str | Path,
    *,
    test_path: str | Path | None = None,
    config: ModelConfig | None = None,
    models_dir: str | Path | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    progress: Callable[[str], Any] | None = None,
) -> TrainResult:
    """Train on ``data_path`` and write a verified artifact into ``models_dir``."""
    import keras

    from newsclf.settings import get_settings

    config = config or ModelConfig.preset("default")
    models_dir = Path(models_dir) if models_dir is not None else get_settings().models_dir
    columns = {"text_column": text_column, "label_column": label_column}
    started = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    train_set, test_set, data_info = _split(
        Path(data_path), Path(test_path) if test_path else None, config, columns, progress
    )
    labels = sorted(set(train_set.labels))
    index = {label: i for i, label in enumerate(labels)}
    tokens = [tokenize(t) for t in train_set.texts]
    y_all = np.array([index[label] for label in train_set.labels], dtype=np.int64)
    if config.validation_portion and len(train_set) >= 10:
        fit_idx, val_idx = stratified_split(
            train_set.labels, 1 - config.validation_portion, config.seed
        )
    else:
        fit_idx, val_idx = np.arange(len(train_set)), np.array([], dtype=np.int64)
    vocab = Vocabulary.fit([tokens[i] for i in fit_idx], config.vocab_size, config.oov_token)
    encode = lambda i: vocab.encode(tokens[i], config.max_length, config.truncating)  # noqa: E731
    fit_seqs, y_fit = [encode(i) for i in fit_idx], y_all[fit_idx]
    val_seqs, y_val = [encode(i) for i in val_idx], y_all[val_idx]

    model = build_model(config, len(labels))
    predictor = Predictor(model, vocab, labels, config)
    history: dict[str, list[float]] = {
        "loss": [],
        "accuracy": [],
        "val_loss": [],
        "val_accuracy": [],
    }
    best: tuple[float, Any, int] = (np.inf, None, -1)
    for epoch in range(config.epochs):
        t = time.perf_counter()
        steps = [
            model.train_on_batch(x, y, return_dict=True)
            for x, y in _batches(fit_seqs, y_fit, config, rng)
        ]
        history["loss"].append(float(np.mean([s["loss"] for s in steps])))
        history["accuracy"].append(float(np.mean([s["accuracy"] for s in steps])))
        line = (
            f"epoch {epoch + 1}/{config.epochs}: loss {history['loss'][-1]:.4f}"
            f" accuracy {history['accuracy'][-1]:.4f}"
        )
        if len(val_seqs):
            val_loss, val_acc = _loss_and_accuracy(predictor.predict_encoded(val_seqs), y_val)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_acc)
            line += f" val_loss {val_loss:.4f} val_accuracy {val_acc:.4f}"
            if val_loss < best[0]:
                best = (val_loss, model.get_weights(), epoch)
        _say(progress, f"{line} ({time.perf_counter() - t:.1f} s)")
        if config.patience and best[2] >= 0 and epoch - best[2] >= config.patience:
            _say(progress, f"early stop: best validation loss at epoch {best[2] + 1}")
            break
    if best[1] is not None:
        model.set_weights(best[1])  # restore the best epoch's weights
    train_seconds = time.perf_counter() - started

    probs = predictor.predict_proba(test_set.texts)
    evaluation = evaluate_labels(test_set.labels, [labels[k] for k in probs.argmax(axis=1)], labels)
    shorts = [" ".join(t.split()[:SHORT_TEXT_WORDS]) for t in test_set.texts]
    short_eval = evaluate_labels(
        test_set.labels, [labels[k] for k in predictor.predict_proba(shorts).argmax(axis=1)], labels
    )
    metrics = {
        **evaluation.to_json(),
        "short_text_accuracy": short_eval.accuracy,
        "short_text_words": SHORT_TEXT_WORDS,
        "train_seconds": round(train_seconds, 2),
        "epochs_run": len(history["loss"]),
        "best_epoch": best[2] + 1 if best[2] >= 0 else None,
        "history": history,
    }
    path = write_artifact(
        models_dir,
        files={
            "vocab.json": vocab.to_json(),
            "labels.json": labels,
            "config.json": dataclasses.asdict(config),
            "metrics.json": metrics,
            "data.json": data_info,
        },
        model=model,
        plots=lambda d: (
            plot_history(history, d / "accuracy_loss.png"),
            plot_confusion(evaluation, d / "confusion.png"),
        ),
    )
    return TrainResult(
        version=path.name,
        path=path,
        metrics=metrics,
        evaluation=evaluation,
        train_seconds=train_seconds,
        n_train=len(train_set),
        n_test=len(test_set),
        artifact_sha256=artifact_sha256(path),
        test_probabilities=probs,
        test_texts=list(test_set.texts),
    )
