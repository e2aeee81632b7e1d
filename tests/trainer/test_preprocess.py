"""The whole-text preprocessing gives exactly what the tutorial's steps give word by word."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest

from newsclf.trainer.preprocess import KERAS_FILTERS, OOV_ID, Vocabulary, stop_words, tokenize

_PER_CHARACTER = str.maketrans({c: " " for c in KERAS_FILTERS})


def reference_tokenize(text: str) -> list[str]:
    """The tutorial's steps one word at a time: lower-case, punctuation to spaces, split,
    strip quotes from each word, drop empty words and stop words."""
    trimmed = (w.strip("'") for w in text.lower().translate(_PER_CHARACTER).split())
    return [w for w in trimmed if w and w not in stop_words()]


def reference_encode(vocab: Vocabulary, text: str, max_length: int, truncating: str) -> list[int]:
    tokens = reference_tokenize(text)
    if len(tokens) > max_length:
        tokens = tokens[:max_length] if truncating == "post" else tokens[-max_length:]
    return [vocab.index.get(t, OOV_ID) for t in tokens]


PIECES = [
    "the", "and", "don't", "Markets", "FELL", "shares", "'quoted'", "''", "'", "o'clock", "rock'n'roll",
    "it's", "'tis", "dogs'", "a.b", "x--y", "(see)", "[1]", "£5", "café", "e\u0301", "ΟΔΟΣ", "ΑΣ.Β",
    "İstanbul", "straße", "日本語", "emoji📰", "\ud800", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c",
    "\x1c", "\x1f", "\x85", "\xa0", "\u2000", "\u2028", "\u3000", "\u200b", "\ufeff", ".", ",", "!",
    '"', "#", "$%&", "*+", "/", ":;<=>?@", "\\", "^_`", "{|}~", "'.'", ".'", "'.",
]  # fmt: skip


def hostile_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(
            rng.choice(PIECES) + rng.choice(["", " ", "'", "."]) for _ in range(rng.randint(0, 40))
        )
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def bbc_texts(bbc_csv: Path) -> list[str]:
    with open(bbc_csv, newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)]


def test_tokenize_matches_the_word_by_word_steps_on_hostile_texts() -> None:
    for text in hostile_texts(3000):
        assert tokenize(text) == reference_tokenize(text), repr(text)


def test_tokenize_matches_the_word_by_word_steps_on_every_bbc_article(bbc_texts: list[str]) -> None:
    for text in bbc_texts:
        assert tokenize(text) == reference_tokenize(text)


@pytest.mark.parametrize("truncating", ["post", "pre"])
def test_encode_and_encode_text_give_the_ids_of_the_tokens_cut_the_same_way(
    bbc_texts: list[str], truncating: str
) -> None:
    texts = bbc_texts[:400] + hostile_texts(1000, seed=11)
    vocab = Vocabulary.fit((reference_tokenize(t) for t in texts[::2]), size=3000)
    # A vocabulary that holds a stop word (an artifact from another stop list): the
    # stop word is still removed, never looked up.
    with_stop = Vocabulary(words=("the", *vocab.words[:50]))
    for v in (vocab, with_stop):
        for max_length in (1, 7, 200):
            for text in texts:
                expected = reference_encode(v, text, max_length, truncating)
                ids = v.encode_text(text, max_length, truncating)
                assert ids.dtype == np.int32
                assert ids.tolist() == expected, repr(text)
                # The trainer's path: tokens first, then their ids.
                from_tokens = v.encode(tokenize(text), max_length, truncating)
                assert from_tokens.dtype == np.int32 and from_tokens.tolist() == expected
