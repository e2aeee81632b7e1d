"""The trainer's promises to the rest of newsclf: a verified artifact, a Predictor
that reproduces the trainer's own predictions, probabilities that do not depend
on batching or padding, no test article in training, and one-line CLI errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from services import bbc_rows, newsclf_cmd, service_env, write_labeled

from newsclf.errors import ArtifactError
from newsclf.trainer.artifact import verify_artifact
from newsclf.trainer.model import ModelConfig
from newsclf.trainer.predictor import Predictor
from newsclf.trainer.preprocess import pad, stop_words, tokenize
from newsclf.trainer.train import train

TINY = {
    "vocab_size": 2000,
    "embedding_dim": 8,
    "lstm_units": 8,
    "dense_units": 8,
    "max_length": 100,
}


@pytest.fixture(scope="module")
def trained(bbc_csv: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("contract")
    data = write_labeled(tmp / "train.csv", bbc_rows(260))
    config = ModelConfig.preset("default", epochs=2, seed=3, **TINY)
    return train(data, config=config, models_dir=tmp / "models")


def test_the_shipped_stop_words_are_nltks_english_list() -> None:
    words = stop_words()
    assert len(words) == 179 and {"the", "and", "don't", "wouldn't", "ourselves"} <= words
    assert tokenize("The markets, and THE shares, fell!") == ["markets", "shares", "fell"]


def test_the_predictor_reproduces_the_trainers_held_out_predictions(trained) -> None:  # type: ignore[no-untyped-def]
    predictor = Predictor.load(trained.path)
    again = predictor.predict_proba(trained.test_texts)
    assert again.shape == trained.test_probabilities.shape
    assert float(np.abs(again - trained.test_probabilities).max()) <= 1e-6


def test_a_texts_probabilities_do_not_depend_on_its_batch_or_padding(trained) -> None:  # type: ignore[no-untyped-def]
    predictor = Predictor.load(trained.path)
    texts = (trained.test_texts * 10)[:256]
    texts = [" ".join(t.split()[: 5 + 7 * i % 300]) for i, t in enumerate(texts)]  # mixed lengths
    in_batch = predictor.predict_proba(texts, batch_size=256)
    for i in (0, 17, 101, 255):
        alone = predictor.predict_proba([texts[i]], batch_size=1)[0]
        assert float(np.abs(alone - in_batch[i]).max()) <= 1e-5
        ids = predictor.encode([texts[i]])[0]
        for length in sorted({predictor.padded_length(k) for k in range(len(ids), 101)}):
            padded = predictor.run_padded(pad([ids], length))[0]
            assert float(np.abs(padded - alone).max()) <= 1e-5, length


def test_a_tampered_or_incomplete_artifact_is_refused(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert verify_artifact(trained.path)["version"] == trained.version
    tampered = shutil.copytree(trained.path, tmp_path / "tampered")
    labels = json.loads((tampered / "labels.json").read_text())
    (tampered / "labels.json").write_text(json.dumps(list(reversed(labels))))
    with pytest.raises(ArtifactError, match="labels.json"):
        Predictor.load(tampered)
    incomplete = shutil.copytree(trained.path, tmp_path / "incomplete")
    (incomplete / "vocab.json").unlink()
    with pytest.raises(ArtifactError, match="vocab.json is missing"):
        Predictor.load(incomplete)


def test_no_test_article_sits_in_training(bbc_csv: Path, tmp_path: Path) -> None:
    rows = bbc_rows(200)
    train_file = write_labeled(tmp_path / "train.csv", rows[:150] + rows[160:170])  # 10 also in test
    test_file = write_labeled(tmp_path / "test.csv", rows[150:200])
    config = ModelConfig.preset("default", epochs=1, seed=1, **TINY)
    result = train(train_file, test_path=test_file, config=config, models_dir=tmp_path / "m")
    data = json.loads((result.path / "data.json").read_text())
    test_texts = {r["text"] for r in rows[150:200]}
    assert result.n_train + result.n_validation == len({r["text"] for r in rows[:150]} - test_texts)
    assert data["duplicates_dropped"] >= 10
    assert result.n_test == 50


def test_labels_are_the_training_labels_in_output_order(trained) -> None:  # type: ignore[no-untyped-def]
    labels = json.loads((trained.path / "labels.json").read_text())
    assert labels == sorted(labels) and len(labels) == len(set(labels)) == 5
    assert Predictor.load(trained.path).model.output_shape[-1] == len(labels)


def test_evaluate_lists_labels_the_model_does_not_know(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = write_labeled(
        tmp_path / "eval.csv",
        [
            {
                "category": "sport",
                "text": "the striker scored twice as the champions won the league",
            },
            {
                "category": "weather",
                "text": "heavy rain and strong winds are expected across the north",
            },
        ],
    )
    env = service_env(
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        broker_url="redis://127.0.0.1:6399/0",
        models_dir=tmp_path,
    )
    done = subprocess.run(
        newsclf_cmd("evaluate", "--model", str(trained.path), "--data", str(data), "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["unknown_labels"] == {"weather": 1} and result["n"] == 2
    assert result["accuracy"] <= 0.5


def test_train_on_a_missing_file_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    env = service_env(
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        broker_url="redis://127.0.0.1:6399/0",
        models_dir=tmp_path,
    )
    done = subprocess.run(
        newsclf_cmd("train", "--data", str(tmp_path / "missing.csv")),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = [
        ln
        for ln in done.stderr.splitlines()
        if ln.strip() and not ln.startswith(("I0000", "WARNING: All"))
    ]
    assert len(lines) == 1 and "missing.csv" in lines[0]
