"""The Predictor: labels and probabilities for any text, the way workers call it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from newsclf.trainer.model import PAD_MULTIPLE
from newsclf.trainer.predictor import Prediction, Predictor


@pytest.fixture(scope="module")
def predictor(tiny_artifact: Path) -> Predictor:
    return Predictor.load(tiny_artifact)


def test_a_loaded_predictor_knows_its_version_labels_and_config(predictor: Predictor,
                                                                tiny_artifact: Path) -> None:
    assert predictor.version == tiny_artifact.name and predictor.path == tiny_artifact
    assert predictor.labels == ["business", "entertainment", "politics", "sport", "tech"]
    assert predictor.config.mask_padding and predictor.config.max_length == 100


def test_predictions_carry_every_labels_probability(predictor: Predictor) -> None:
    [p] = predictor.predict(["Shares in the bank fell after profits dropped"])
    assert isinstance(p, Prediction) and p.label in predictor.labels
    assert set(p.probabilities) == set(predictor.labels)
    assert p.confidence == max(p.probabilities.values())
    assert sum(p.probabilities.values()) == pytest.approx(1, abs=1e-5)


def test_empty_and_stop_word_only_texts_get_finite_probabilities(predictor: Predictor) -> None:
    probabilities = predictor.predict_proba(["", "the and of it", "film"])
    assert probabilities.shape == (3, 5) and probabilities.dtype == np.float32
    assert np.isfinite(probabilities).all()
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert predictor.encode(["the and of it"])[0].size == 0


def test_encoding_truncates_but_does_not_pad(predictor: Predictor) -> None:
    short, long = predictor.encode(["markets fell", "word " * 500])
    assert len(short) == 2 and len(long) == predictor.config.max_length


def test_padding_lengths_are_rounded_multiples_within_max_length(predictor: Predictor) -> None:
    assert predictor.padded_length(0) == 1
    assert predictor.padded_length(1) == PAD_MULTIPLE
    assert predictor.padded_length(17) == 2 * PAD_MULTIPLE
    assert predictor.padded_length(10_000) == predictor.config.max_length


def test_results_come_back_in_input_order_whatever_the_batch_size(predictor: Predictor) -> None:
    texts = ["football " * n + "match" for n in range(40, 0, -3)] + ["the election vote"] * 3
    whole = predictor.predict_proba(texts)
    small = predictor.predict_proba(texts, batch_size=3)
    assert np.abs(whole - small).max() <= 1e-5
    assert np.allclose(whole[-1], whole[-2])


@pytest.mark.parametrize(("combine", "bag_norm"), [("mean", "l1"), ("product", "l2")])
def test_a_bilstm_reading_a_prefix_is_still_exact_at_every_padding(tmp_path: Path, combine: str,
                                                                   bag_norm: str) -> None:
    import keras

    from newsclf.trainer.layers import register_custom_layers
    from newsclf.trainer.model import ModelConfig, build_model
    from newsclf.trainer.preprocess import Vocabulary, pad

    config = ModelConfig.preset("default", vocab_size=60, embedding_dim=6, lstm_units=5,
                                dense_units=5, max_length=64, lstm_length=20, seed=4,
                                combine=combine, bag_norm=bag_norm)
    keras.utils.set_random_seed(4)
    model = build_model(config, n_classes=3)
    words = [f"w{i}" for i in range(58)]
    predictor = Predictor(model, Vocabulary(words=tuple(words)), ["a", "b", "c"], config)
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words + ["zzz"], size=n)) for n in (0, 3, 19, 20, 21, 40, 64, 90)]
    batch = predictor.predict_proba(texts)
    for i, text in enumerate(texts):
        alone = predictor.predict_proba([text])[0]
        assert np.abs(alone - batch[i]).max() <= 1e-5
        ids = predictor.encode([text])[0]
        for length in sorted({predictor.padded_length(k) for k in range(len(ids), 65)}):
            assert np.abs(predictor.run_padded(pad([ids], length))[0] - alone).max() <= 1e-5
    model.save(tmp_path / "m.keras")
    register_custom_layers()
    loaded = keras.models.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    again = Predictor(loaded, predictor.vocab, predictor.labels, config).predict_proba(texts)
    assert np.abs(again - batch).max() <= 1e-6
