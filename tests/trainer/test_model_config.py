"""ModelConfig and its presets."""

from __future__ import annotations

import pytest

from newsclf.errors import InputError
from newsclf.trainer.model import PRESETS, ModelConfig, build_model


def test_the_seed_preset_is_the_tutorials_settings() -> None:
    seed = ModelConfig.preset("seed")
    assert (seed.vocab_size, seed.embedding_dim, seed.max_length, seed.epochs) == (5000, 64, 200, 10)
    assert (seed.padding, seed.truncating, seed.oov_token, seed.train_portion) == (
        "post", "post", "<OOV>", 0.8)
    assert not seed.mask_padding and seed.pooling == "last" and not seed.bag_head and not seed.tfidf_head


def test_the_default_preset_is_the_dataclass_defaults() -> None:
    assert ModelConfig.preset("default") == ModelConfig()
    assert ModelConfig().mask_padding and ModelConfig().tfidf_head


def test_overrides_apply_and_none_means_unchanged() -> None:
    config = ModelConfig.preset("seed", epochs=3, seed=None)
    assert config.epochs == 3 and config.seed == ModelConfig().seed
    assert config.to_json()["preset"] == "seed"


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"train_portion": 1.0}, {"pooling": "mean"},
                                 {"patience": 2, "validation_portion": 0.0}])
def test_an_invalid_config_is_one_input_error(bad: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InputError, match="invalid model config"):
        ModelConfig(**bad)


def test_an_unknown_preset_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown preset"):
        ModelConfig.preset("huge")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_has_one_output_unit_per_class(preset: str) -> None:
    model = build_model(ModelConfig.preset(preset, vocab_size=50, embedding_dim=4, lstm_units=2,
                                           dense_units=2), n_classes=5)
    assert model.output_shape == (None, 5)
