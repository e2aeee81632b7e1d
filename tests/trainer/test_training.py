"""The training loop: reproducible, validation only from training data, both presets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from services import bbc_rows, write_labeled

from newsclf.trainer.model import ModelConfig
from newsclf.trainer.train import train

TINY = {"vocab_size": 1500, "embedding_dim": 8, "lstm_units": 4, "dense_units": 4, "max_length": 60,
        "lstm_length": 30}


@pytest.fixture(scope="module")
def subset(bbc_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_labeled(tmp_path_factory.mktemp("subset") / "subset.csv", bbc_rows(200))


def test_the_same_data_and_seed_give_the_same_model(subset: Path, tmp_path: Path) -> None:
    config = ModelConfig.preset("default", epochs=1, seed=11, **TINY)
    first = train(subset, config=config, models_dir=tmp_path)
    second = train(subset, config=config, models_dir=tmp_path)
    assert first.version != second.version
    assert first.test_texts == second.test_texts
    assert np.abs(first.test_probabilities - second.test_probabilities).max() <= 1e-5


def test_validation_comes_from_the_training_data_and_early_stopping_restores_the_best(
    subset: Path, tmp_path: Path
) -> None:
    config = ModelConfig.preset("default", epochs=3, seed=2, validation_portion=0.2, patience=1,
                                crop_probability=0.5, **TINY)
    lines: list[str] = []
    result = train(subset, config=config, models_dir=tmp_path, progress=lines.append)
    assert result.n_validation > 0 and result.n_train + result.n_validation + result.n_test <= 200
    assert len(result.history["val_loss"]) == result.epochs_run
    best = int(np.argmin(result.history["val_loss"])) + 1
    assert result.best_epoch == best
    assert any(line.startswith("epoch 1/3") and "val_accuracy" in line for line in lines)
    data = json.loads((result.path / "data.json").read_text())
    assert data["n_validation"] == result.n_validation


def test_the_seed_preset_trains_the_unmasked_tutorial_network(subset: Path, tmp_path: Path) -> None:
    config = ModelConfig.preset("seed", epochs=1, **{k: v for k, v in TINY.items() if k != "lstm_length"})
    result = train(subset, config=config, models_dir=tmp_path)
    from newsclf.trainer.predictor import Predictor

    predictor = Predictor.load(result.path)
    assert not predictor.config.mask_padding and predictor.padded_length(3) == 60
    assert json.loads((result.path / "config.json").read_text())["preset"] == "seed"
    assert np.abs(predictor.predict_proba(result.test_texts) - result.test_probabilities).max() <= 1e-6


def test_a_single_label_file_cannot_train(tmp_path: Path) -> None:
    from newsclf.errors import InputError

    data = tmp_path / "one.csv"
    data.write_text("category,text\n" + "".join(f"sport,goal number {i}\n" for i in range(10)))
    with pytest.raises(InputError, match="at least two labels"):
        train(data, config=ModelConfig.preset("default", epochs=1, **TINY), models_dir=tmp_path)
