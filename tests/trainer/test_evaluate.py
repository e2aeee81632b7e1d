"""Scores: accuracy, macro-F1, per-class, confusion, unknown labels."""

from __future__ import annotations

import numpy as np
import pytest

from newsclf.trainer.evaluate import evaluate_labels


def test_perfect_predictions_score_one() -> None:
    ev = evaluate_labels(["a", "b", "b"], ["a", "b", "b"], ["a", "b"])
    assert ev.accuracy == 1 and ev.macro_f1 == 1
    assert ev.per_class["b"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert ev.confusion.tolist() == [[1, 0], [0, 2]]


def test_scores_match_a_hand_computed_example() -> None:
    true = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "c", "c"]
    ev = evaluate_labels(true, pred, ["a", "b", "c"])
    assert ev.accuracy == pytest.approx(4 / 6)
    assert ev.per_class["a"]["precision"] == 1 and ev.per_class["a"]["recall"] == pytest.approx(2 / 3)
    assert ev.per_class["b"]["f1"] == pytest.approx(0.5)
    assert ev.per_class["c"]["f1"] == pytest.approx(2 / 3)
    assert ev.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert ev.confusion.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_labels_the_model_does_not_know_are_errors_and_listed() -> None:
    true = ["a", "b", "weather", "weather", "a"]
    pred = ["a", "b", "a", "b", "a"]
    ev = evaluate_labels(true, pred, ["a", "b"])
    assert ev.accuracy == pytest.approx(3 / 5)
    assert ev.unknown_labels == {"weather": 2}
    assert ev.true_labels == ["a", "b", "weather"] and ev.predicted_labels == ["a", "b"]
    assert ev.confusion.tolist() == [[2, 0], [0, 1], [1, 1]]
    assert ev.per_class["weather"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert ev.macro_f1 == pytest.approx((0.8 + 2 / 3 + 0) / 3)
    out = ev.to_json()
    assert out["unknown_labels"] == {"weather": 2} and out["confusion"]["matrix"][2] == [1, 1]


def test_a_label_absent_from_the_file_does_not_lower_macro_f1() -> None:
    ev = evaluate_labels(["a", "a"], ["a", "a"], ["a", "b", "c"])
    assert ev.macro_f1 == 1 and ev.per_class["b"]["support"] == 0


def test_the_confusion_matrix_counts_every_record() -> None:
    rng = np.random.default_rng(0)
    labels = ["x", "y", "z"]
    true = list(rng.choice(labels, 200))
    pred = list(rng.choice(labels, 200))
    ev = evaluate_labels(true, pred, labels)
    assert ev.confusion.sum() == 200 and ev.n == 200
    assert ev.accuracy == pytest.approx(np.mean(np.array(true) == np.array(pred)))
