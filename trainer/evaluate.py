"""Scores of predicted labels against true ones, in numpy (no scikit-learn)::

    ev = evaluate_labels(true_labels, predicted_labels, model_labels=predictor.labels)
    ev.accuracy, ev.macro_f1, ev.per_class["sport"]["recall"], ev.to_json()

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
        }


def evaluate_labels(
    true: Sequence[str], predicted: Sequence[str], model_labels: Sequence[str]
) -> Evaluation:
    """Score ``predicted`` (labels the model output) against ``true``, record by record."""
    if len(true) != len(predicted):
        raise ValueError(f"{len(true)} true labels but {len(predicted)} predictions")
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
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0."""
    out = np.zeros(len(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out
