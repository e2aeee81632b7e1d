"""What the default adds beside the tutorial's BiLSTM: hashed word pairs in the bag head,
word dropout, and pretrained word vectors from a file the user supplies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from services import bbc_rows, write_labeled

from newsclf.errors import InputError
from newsclf.trainer.layers import bigram_ids, custom_layers
from newsclf.trainer.model import ModelConfig, build_model
from newsclf.trainer.preprocess import OOV_ID, PAD_ID, Vocabulary
from newsclf.trainer.train import epoch_batches, read_embeddings, train

TINY = {"vocab_size": 1500, "embedding_dim": 8, "lstm_units": 4, "dense_units": 4, "max_length": 60,
        "lstm_length": 30}


@pytest.fixture(scope="module")
def subset(bbc_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_labeled(tmp_path_factory.mktemp("subset") / "subset.csv", bbc_rows(200))


def test_the_bigram_layer_and_its_numpy_twin_hash_alike() -> None:
    *_, hashed_bigrams = custom_layers()
    ids = np.array([[5, 9, OOV_ID, 7, 7, 12, 40000, 3, PAD_ID, PAD_ID]], dtype=np.int32)
    in_graph = np.asarray(hashed_bigrams(buckets=997)(ids))
    in_numpy = bigram_ids(ids[0][:8], 997)
    assert in_graph.shape == (1, 9)
    assert in_graph[0, :7].tolist() == in_numpy.tolist()
    assert in_graph[0, 1] == in_graph[0, 2] == 0  # a pair with an OOV word is no pair
    assert (in_graph[0, 7:] == 0).all()  # nor one with padding
    assert ((in_numpy == 0) | ((in_numpy >= 1) & (in_numpy <= 997))).all()
    assert bigram_ids(np.array([5], dtype=np.int32), 997).size == 0


def test_with_bigrams_a_text_gets_the_same_probabilities_at_every_padding() -> None:
    import keras

    config = ModelConfig.preset("default", vocab_size=60, embedding_dim=6, lstm_units=5, dense_units=5,
                                max_length=64, lstm_length=20, bigram_buckets=50, seed=4)
    keras.utils.set_random_seed(4)
    model = build_model(config, n_classes=3)
    model.get_layer("bigram_idf").set_weights([np.linspace(0, 3, 51, dtype=np.float32)[:, None]])
    assert_padding_changes_nothing(model, config)


def test_word_dropout_turns_about_that_share_of_training_ids_into_oov() -> None:
    config = ModelConfig.preset("default", word_dropout=0.3, crop_probability=0.0, batch_size=8, **TINY)
    seqs = [np.arange(2, 102, dtype=np.int32) for _ in range(20)]
    y = np.zeros(20, dtype=np.int64)
    rng = np.random.default_rng(0)
    ids = np.concatenate([x[x != PAD_ID] for x, _ in epoch_batches(seqs, y, config, rng, lambda n: n)])
    assert ids.size == 2000 and 0.25 < np.mean(ids == OOV_ID) < 0.35
    assert all((s == np.arange(2, 102)).all() for s in seqs)  # the training ids themselves are kept


def _vectors_file(path: Path, words: list[str], dim: int, header: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = {w: rng.normal(size=dim).astype(np.float32).round(4) for w in words}
    lines = [f"{len(words)} {dim}"] if header else []
    lines += [w + " " + " ".join(f"{v:.4f}" for v in vec) for w, vec in vectors.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return vectors


@pytest.mark.parametrize("header", [False, True])
def test_embeddings_are_read_for_the_vocabulary_words_the_file_has(tmp_path: Path, header: bool) -> None:
    vocab = Vocabulary(words=("market", "goal", "film"))
    vectors = _vectors_file(tmp_path / "v.txt", ["goal", "unseen", "market"], 4, header)
    matrix, found = read_embeddings(tmp_path / "v.txt", vocab, 4)
    assert found == 2 and matrix.shape == (5, 4)
    assert np.allclose(matrix[vocab.index["goal"]], vectors["goal"])
    assert np.allclose(matrix[vocab.index["market"]], vectors["market"])
    assert np.isnan(matrix[vocab.index["film"]]).all() and np.isnan(matrix[OOV_ID]).all()


def test_embeddings_of_another_width_are_one_input_error(tmp_path: Path) -> None:
    _vectors_file(tmp_path / "v.txt", ["goal"], 5)
    with pytest.raises(InputError, match="5-wide vector.*--embedding-dim 5"):
        read_embeddings(tmp_path / "v.txt", Vocabulary(words=("goal",)), 8)


def test_training_starts_from_the_supplied_vectors(subset: Path, tmp_path: Path) -> None:
    import keras

    from newsclf.trainer.layers import register_custom_layers

    words = ["said", "film", "government", "game", "market", "nonexistentword"]
    vectors = _vectors_file(tmp_path / "glove.txt", words, 8)
    config = ModelConfig.preset("default", epochs=1, seed=5, learning_rate=1e-9,
                                embeddings=str(tmp_path / "glove.txt"), **TINY)
    result = train(subset, config=config, models_dir=tmp_path / "models")
    assert result.metrics["pretrained_words"] == 5
    assert json.loads((result.path / "config.json").read_text())["embeddings"].endswith("glove.txt")
    register_custom_layers()
    model = keras.models.load_model(result.path / "model.keras", compile=False, safe_mode=True)
    table = model.get_layer("embedding").get_weights()[0]
    index = Vocabulary.from_json(json.loads((result.path / "vocab.json").read_text())).index
    for word in words[:5]:
        assert np.allclose(table[index[word]], vectors[word], atol=1e-3)


def test_newsclf_train_takes_embeddings_and_bigrams_from_the_command_line(
    subset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from click.testing import CliRunner

    from newsclf.cli import cli

    _vectors_file(tmp_path / "w2v.txt", ["said", "film"], 8, header=True)
    args = ["train", "--data", str(subset), "--models-dir", str(tmp_path / "m"), "--no-register",
            "--json", "--epochs", "1", "--vocab-size", "1500", "--embedding-dim", "8",
            "--max-length", "60", "--embeddings", str(tmp_path / "w2v.txt"), "--bigram-buckets", "300",
            "--word-dropout", "0.1", "--no-tfidf-head"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    config = json.loads((Path(out["path"]) / "config.json").read_text())
    assert (config["bigram_buckets"], config["word_dropout"], config["tfidf_head"]) == (300, 0.1, False)
    assert "2 of" in result.output and 0 <= out["ece"] <= 1

    from newsclf.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([*args[:-5], "--embedding-dim", "4"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--embedding-dim 8" in err[0]


def test_unknown_words_carry_no_weight_in_the_bag_head(subset: Path, tmp_path: Path) -> None:
    import keras

    from newsclf.trainer.predictor import Predictor
    from newsclf.trainer.preprocess import pad

    result = train(subset, config=ModelConfig.preset("default", epochs=1, seed=6, **TINY),
                   models_dir=tmp_path)
    model = Predictor.load(result.path).model
    idf = model.get_layer("idf").get_weights()[0][:, 0]
    assert idf[PAD_ID] == 0 and idf[OOV_ID] == 0 and (idf[2:] > 0).all()
    bag = keras.Model(model.input, model.get_layer("bag_logits").output)
    known = np.array([5, 17, 40, 9], dtype=np.int32)
    foreign = np.array([5, OOV_ID, 17, OOV_ID, OOV_ID, 40, 9, OOV_ID], dtype=np.int32)
    logits = np.asarray(bag(pad([known, foreign], 8), training=False))
    assert np.abs(logits[0] - logits[1]).max() <= 1e-5


def test_the_tfidf_head_weighs_words_as_sublinear_l2_normalised_tfidf() -> None:
    *_, tfidf_linear, _ = custom_layers()
    layer = tfidf_linear(vocab_size=6, units=6)
    ids = np.array([[2, 3, 3, 3, 4, OOV_ID, PAD_ID, PAD_ID]], dtype=np.int32)
    layer(ids)
    idf = np.array([0.0, 0.0, 1.5, 2.0, 1.0, 3.0], dtype=np.float32)
    layer.idf.assign(idf)
    layer.kernel.assign(np.eye(6, dtype=np.float32))  # the logits are the TF-IDF vector itself
    vector = np.array([0, 0, 1.5 * 1, 2.0 * (1 + np.log(3)), 1.0 * 1, 0])
    expected = vector / np.linalg.norm(vector)
    assert np.allclose(np.asarray(layer(ids))[0], expected, atol=1e-6)
    padded = np.pad(ids, ((0, 0), (0, 30)))
    assert np.allclose(np.asarray(layer(padded)), np.asarray(layer(ids)), atol=1e-7)
    assert np.allclose(np.asarray(layer(np.zeros((1, 4), dtype=np.int32))), 0)  # nothing known: zeros


def test_with_the_tfidf_head_a_text_gets_the_same_probabilities_at_every_padding(tmp_path: Path) -> None:
    import keras

    from newsclf.trainer.layers import register_custom_layers
    from newsclf.trainer.model import set_idf
    from newsclf.trainer.predictor import Predictor

    config = ModelConfig.preset("default", vocab_size=60, embedding_dim=6, lstm_units=5, dense_units=5,
                                max_length=64, lstm_length=20, tfidf_head=True, seed=4)
    keras.utils.set_random_seed(4)
    model = build_model(config, n_classes=3)
    set_idf(model, np.arange(60, dtype=np.float64), 80)
    tfidf = model.get_layer("tfidf_logits")
    tfidf.kernel.assign(np.random.default_rng(1).normal(size=(60, 3)).astype(np.float32))
    predictor, texts, batch = assert_padding_changes_nothing(model, config)
    model.save(tmp_path / "m.keras")
    register_custom_layers()
    loaded = keras.models.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    assert np.allclose(loaded.get_layer("tfidf_logits").idf.numpy(), tfidf.idf.numpy())
    again = Predictor(loaded, predictor.vocab, predictor.labels, config).predict_proba(texts)
    assert np.abs(again - batch).max() <= 1e-6


def assert_padding_changes_nothing(
    model: Any, config: ModelConfig
) -> tuple[Any, list[str], np.ndarray]:
    """Texts of 0-64 words over a 58-word vocabulary (and an unknown word) get the
    same probabilities in one batch, alone at their own length, and padded to 64.
    Returns the predictor, the texts and the batch's probabilities."""
    from newsclf.trainer.predictor import Predictor
    from newsclf.trainer.preprocess import pad

    words = [f"w{i}" for i in range(58)]
    predictor = Predictor(model, Vocabulary(words=tuple(words)), ["a", "b", "c"], config)
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words + ["zzz"], size=n)) for n in (0, 1, 2, 19, 40, 64)]
    batch = predictor.predict_proba(texts)
    for i, text in enumerate(texts):
        ids = predictor.encode([text])[0]
        for length in (max(len(ids), 1), 64):
            assert np.abs(predictor.run_padded(pad([ids], length))[0] - batch[i]).max() <= 1e-5
    return predictor, texts, batch
