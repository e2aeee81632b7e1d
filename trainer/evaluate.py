"""Scores of predicted labels against true ones, in numpy (no scikit-learn)::

    ev = evaluate_labels(true_labels, predicted_labels, model_labels=predictor.labels,
                         confidences=probabilities.max(axis=1))
    ev.accuracy, ev.macro_f1, ev.per_class["sport"]["recall"], ev.ece, ev.to_json()
    temperature = fit_temperature(validation_probabilities, validation_label_ids)

A true label the model does not know is always an error: it is counted in
accuracy, gets its own row of the confusion matrix (the model never predicts
it), has F1 0 in the macro average, and is listed in ``unknown_labels``.
Macro-F1 averages over the labels that occur in the true or predicted labels
(scikit-learn's convention), so a file with fewer classes is not penalised
for the ones it lacks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Evaluation:
    """Accuracy, macro-F1, per-class scores and the confusion matrix of one labeled set."""

    n: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    true_labels: list[str]
    """Rows of ``confusion``: the model's labels, then unknown ones."""
    predicted_labels: list[str]
    """Columns of ``confusion``: the model's labels, in output order."""
    confusion: np.ndarray
    unknown_labels: dict[str, int]
    ece: float | None = None
    """Expected calibration error of the confidences (when given): see
    ``expected_calibration_error``."""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types: what ``metrics.json`` and ``--json`` print."""
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": self.per_class,
            "confusion": {
                "true": self.true_labels,
                "predicted": self.predicted_labels,
                "matrix": self.confusion.tolist(),
            },
            "unknown_labels": self.unknown_labels,
            "ece": self.ece,
        }


def evaluate_labels(
    true: Sequence[str],
    predicted: Sequence[str],
    model_labels: Sequence[str],
    confidences: Sequence[float] | np.ndarray | None = None,
) -> Evaluation:
    """Score ``predicted`` (labels the model output) against ``true``, record by record;
    with each prediction's ``confidences``, their expected calibration error too."""
    if len(true) != len(predicted):
        raise ValueError(f"{len(true)} true labels but {len(predicted)} predictions")
    ece = None
    if confidences is not None:
        if len(confidences) != len(true):
            raise ValueError(f"{len(true)} true labels but {len(confidences)} confidences")
        correct = np.array([t == p for t, p in zip(true, predicted, strict=True)], dtype=bool)
        ece = expected_calibration_error(np.asarray(confidences, dtype=np.float64), correct)
    known = list(model_labels)
    unknown = Counter(t for t in true if t not in set(known))
    rows = known + sorted(unknown)
    row_of = {label: i for i, label in enumerate(rows)}
    col_of = {label: i for i, label in enumerate(known)}
    confusion = np.zeros((len(rows), len(known)), dtype=np.int64)
    for t, p in zip(true, predicted, strict=True):
        confusion[row_of[t], col_of[p]] += 1

    n = len(true)
    correct = int(np.trace(confusion[: len(known)])) if known else 0
    support = confusion.sum(axis=1)
    predicted_count = np.zeros(len(rows), dtype=np.int64)
    predicted_count[: len(known)] = confusion.sum(axis=0)
    tp = np.zeros(len(rows), dtype=np.int64)
    tp[: len(known)] = np.diagonal(confusion[: len(known)])
    precision = _ratio(tp, predicted_count)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted_count)
    present = (support + predicted_count) > 0
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(rows)
    }
    return Evaluation(
        n=n,
        accuracy=correct / n if n else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        per_class=per_class,
        true_labels=rows,
        predicted_labels=known,
        confusion=confusion,
        unknown_labels=dict(sorted(unknown.items())),
        ece=ece,
    )


ECE_BINS = 15


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over equal-width confidence bins ``(lo, hi]`` of the share of predictions in the
    bin times |accuracy - mean confidence| in it: 0 when a confidence of 0.8 is right 80 %
    of the time. 0 for no predictions."""
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if not len(confidences):
        return 0.0
    which = np.clip(np.ceil(confidences * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for b in np.unique(which):
        in_bin = which == b
        total += in_bin.mean() * abs(correct[in_bin].mean() - confidences[in_bin].mean())
    return float(total)


def fit_temperature(probabilities: np.ndarray, label_ids: np.ndarray) -> float:
    """The temperature T minimising the cross-entropy of softmax(log(p) / T) on held-out
    probabilities ``p`` and their true label ids: a grid from 0.05 to 20, then refined.

    The targets are smoothed by 1 / (n + 2), the error rate Laplace's rule expects after n
    right answers: a validation slice with no error would otherwise drive T to its
    smallest value and every served confidence to 1. 1 for no rows."""
    if not len(label_ids):
        return 1.0
    logp = np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), 1e-300))
    rows = np.arange(len(label_ids))
    smoothing = 1 / (len(label_ids) + 2)

    def loss(t: float) -> float:
        z = logp / t
        z -= z.max(axis=1, keepdims=True)
        target = (1 - smoothing) * z[rows, label_ids] + smoothing * z.mean(axis=1)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - target))

    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 121))
    best = min(grid, key=loss)
    fine = best * np.exp(np.linspace(-0.06, 0.06, 25))
    return float(round(min(fine, key=loss), 4))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0."""
    out = np.zeros(len(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out
