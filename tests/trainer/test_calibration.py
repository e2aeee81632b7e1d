"""Calibration: expected calibration error, the fitted temperature, and that every way a
text reaches the model (Predictor, the worker's model call) gets the same scaled probabilities."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from services import bbc_rows, write_labeled

from newsclf.cli import cli
from newsclf.trainer.evaluate import evaluate_labels, expected_calibration_error, fit_temperature
from newsclf.trainer.predictor import Predictor, temperature_scaled


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def test_ece_matches_a_hand_computed_example() -> None:
    # Bin (0.8667, 0.9333]: confidences 0.9, 0.9, right once: |0.5 - 0.9| * 2/4.
    # Bin (0.6, 0.6667]: confidence 0.65 right: |1 - 0.65| * 1/4. Bin (0.9333, 1]: 1.0 right: 0.
    ece = expected_calibration_error(np.array([0.9, 0.9, 0.65, 1.0]), np.array([1, 0, 1, 1]))
    assert ece == pytest.approx(0.4 * 0.5 + 0.35 * 0.25)
    assert expected_calibration_error(np.array([0.75] * 4), np.array([1, 1, 1, 0])) == pytest.approx(0)
    assert expected_calibration_error(np.array([]), np.array([])) == 0


def test_evaluation_reports_ece_only_when_given_confidences() -> None:
    assert evaluate_labels(["a", "b"], ["a", "a"], ["a", "b"]).ece is None
    ev = evaluate_labels(["a", "b"], ["a", "a"], ["a", "b"], confidences=[0.9, 0.7])
    assert ev.ece == pytest.approx((0.1 + 0.7) / 2) and ev.to_json()["ece"] == ev.ece


def test_temperature_scaling_is_softmax_of_the_logits_divided() -> None:
    logits = np.random.default_rng(0).normal(scale=6, size=(50, 5))
    p = _softmax(logits).astype(np.float32)
    assert temperature_scaled(p, 1.0) is p
    assert np.abs(temperature_scaled(p, 2.5) - _softmax(logits / 2.5)).max() < 1e-5
    assert temperature_scaled(p, 2.5).dtype == np.float32


def test_the_fitted_temperature_undoes_overconfidence() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=2, size=(4000, 5))
    y = np.array([rng.choice(5, p=row) for row in _softmax(logits)])  # calibrated at T = 1
    overconfident = _softmax(logits * 3)  # what a model trained too hard would say
    t = fit_temperature(overconfident, y)
    assert t == pytest.approx(3, rel=0.1)
    correct = overconfident.argmax(axis=1) == y
    before = expected_calibration_error(overconfident.max(axis=1), correct)
    after = expected_calibration_error(temperature_scaled(overconfident, t).max(axis=1), correct)
    assert after < before / 3
    assert fit_temperature(np.zeros((0, 5)), np.zeros(0, dtype=np.int64)) == 1.0


def test_predictor_and_the_worker_model_call_apply_the_same_temperature(tiny_artifact: Path) -> None:
    from newsclf.worker.batch import _predict

    loaded = Predictor.load(tiny_artifact)
    hot = dataclasses.replace(loaded.config, temperature=2.5)
    predictor = Predictor(loaded.model, loaded.vocab, loaded.labels, hot)
    texts = ["Shares fell after the bank's profits dropped", "The striker scored twice", "film"]
    seqs = predictor.encode(texts)
    worker_probabilities, _seconds = _predict(predictor, seqs)
    from newsclf.trainer.preprocess import pad

    raw = np.asarray(loaded.model(pad(seqs, predictor.padded_length(max(map(len, seqs)))),
                                  training=False))
    expected = temperature_scaled(raw, 2.5)
    assert np.abs(worker_probabilities - expected).max() <= 1e-5
    assert np.abs(predictor.predict_proba(texts) - expected).max() <= 1e-5
    assert np.abs(expected - raw).max() > 1e-3  # the temperature did change them


def test_a_calibrated_artifact_stores_its_temperature_and_ece(bbc_csv: Path, tmp_path: Path) -> None:
    from newsclf.trainer.model import ModelConfig
    from newsclf.trainer.train import train

    subset = write_labeled(tmp_path / "subset.csv", bbc_rows(200))
    config = ModelConfig.preset("default", vocab_size=1500, embedding_dim=8, lstm_units=4,
                                dense_units=4, max_length=60, lstm_length=30, epochs=1, seed=3,
                                validation_portion=0.25, calibrate=True)
    result = train(subset, config=config, models_dir=tmp_path / "models")
    stored = json.loads((result.path / "config.json").read_text())
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert stored["temperature"] == result.config.temperature == metrics["calibration"]["temperature"]
    assert result.config.temperature != 1.0 and metrics["calibration"]["fitted_on"] == result.n_validation
    assert 0 <= metrics["ece"] <= 1
    predictor = Predictor.load(result.path)
    assert predictor.config.temperature == result.config.temperature
    probabilities = predictor.predict_proba(result.test_texts)
    assert np.abs(probabilities - result.test_probabilities).max() <= 1e-6
    correct = probabilities.argmax(axis=1) == [predictor.labels.index(t) for t in result.test_labels]
    assert metrics["ece"] == pytest.approx(
        expected_calibration_error(probabilities.max(axis=1), correct), abs=1e-6)

    test_file = tmp_path / "test.csv"
    with open(test_file, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["category", "text"])
        writer.writerows(zip(result.test_labels, result.test_texts, strict=True))
    cli_result = CliRunner().invoke(cli, ["evaluate", "--model", str(result.path), "--data",
                                          str(test_file), "--json"])
    assert cli_result.exit_code == 0, cli_result.output
    out = json.loads(cli_result.output.strip().splitlines()[-1])
    assert out["ece"] == pytest.approx(metrics["ece"], abs=1e-6)
    assert out["accuracy"] == pytest.approx(metrics["accuracy"])



def test_a_validation_slice_without_errors_does_not_make_every_confidence_one() -> None:
    logits = np.random.default_rng(2).normal(scale=3, size=(150, 5))
    p = _softmax(logits)
    y = p.argmax(axis=1)  # every validation text right
    t = fit_temperature(p, y)
    assert t > 0.1
    assert temperature_scaled(p, t).max(axis=1).mean() < 0.999
