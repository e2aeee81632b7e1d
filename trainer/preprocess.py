"""Text preprocessing shared by the trainer and the workers: one function, one home.

The tutorial lower-cases, strips NLTK's English stop words and lets Keras's old
``Tokenizer`` split on whitespace after removing punctuation. This module does
the same without NLTK's downloader (the 179-word list ships in
``resources/stopwords_english.txt``) and without the removed Tokenizer::

    tokens = tokenize("The markets fell, and shares were down.")
    vocab = Vocabulary.fit([tokens], size=5000)
    ids = vocab.encode(tokens, max_length=200)
"""

from __future__ import annotations

import collections
import functools
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

PAD_ID = 0
"""Index of padding; never a word."""

OOV_ID = 1
"""Index of the out-of-vocabulary token."""

DEFAULT_OOV_TOKEN = "<OOV>"
"""The tutorial's OOV token."""

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n\r'
"""Characters the tutorial's Keras Tokenizer turned into spaces (apostrophes stay)."""

_FILTERS_TO_SPACES = bytes.maketrans(KERAS_FILTERS.encode(), b" " * len(KERAS_FILTERS))
"""The filters as a byte table: all are ASCII, and no byte of a multi-byte UTF-8
character is, so translating the UTF-8 bytes is translating the text. ``str.translate``
looks each character up in a dict once the text holds a non-ASCII one (a pound
sign will do), many times slower than translating the bytes."""

_EDGE_QUOTES = re.compile(r"(?<!\S)'+|'+(?!\S)")
"""Apostrophes at either end of a word: what ``word.strip("'")`` removes from each."""

_DROPPED = -1
"""Id of a stop word in ``Vocabulary``'s lookup: removed, not OOV."""


@functools.cache
def stop_words() -> frozenset[str]:
    """NLTK's English stop words (179), shipped with the package."""
    text = resources.files("newsclf.trainer").joinpath("resources/stopwords_english.txt").read_text("utf-8")
    return frozenset(w for w in text.split() if w)


def words(text: str) -> list[str]:
    """Lower-case, turn punctuation into spaces, trim quotes from the ends of words,
    split: every step on the whole text in C, none per word in Python."""
    lowered = text.lower().encode("utf-8", "surrogatepass").translate(_FILTERS_TO_SPACES)
    spaced = lowered.decode("utf-8", "surrogatepass")
    if "'" in spaced:
        spaced = _EDGE_QUOTES.sub("", spaced)  # a word of quotes only is gone, as strip + drop
    return spaced.split()


def tokenize(text: str) -> list[str]:
    """Lower-case, turn punctuation into spaces, split, trim quotes, drop stop words."""
    stops = stop_words()
    return [w for w in words(text) if w not in stops]


@dataclass(frozen=True)
class Vocabulary:
    """Word -> id: 0 is padding, 1 is OOV, then the most frequent training words."""

    words: tuple[str, ...]
    oov_token: str = DEFAULT_OOV_TOKEN

    @classmethod
    def fit(
        cls, token_lists: Iterable[Sequence[str]], size: int, oov_token: str = DEFAULT_OOV_TOKEN
    ) -> Vocabulary:
        """The ``size`` most frequent words (ties broken by first appearance, as Keras did).

        ``size`` counts the padding and OOV slots, as the tutorial's ``num_words``
        counted its index 0 and OOV: ids stay below ``size``.
        """
        counts: collections.Counter[str] = collections.Counter()
        for tokens in token_lists:
            counts.update(tokens)
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])  # stable: first seen wins ties
        return cls(words=tuple(w for w, _ in ranked[: max(size - 2, 0)]), oov_token=oov_token)

    @functools.cached_property
    def index(self) -> dict[str, int]:
        return {w: i + 2 for i, w in enumerate(self.words)}

    @property
    def size(self) -> int:
        """Number of ids, padding and OOV included: the embedding's input dimension."""
        return len(self.words) + 2

    def encode(self, tokens: Sequence[str], max_length: int, truncating: str = "post") -> np.ndarray:
        """Token ids (``tokenize``'s tokens), cut to ``max_length`` (``post`` keeps the
        start), not padded."""
        return self._ids(tokens, max_length, truncating)

    def encode_text(self, text: str, max_length: int, truncating: str = "post") -> np.ndarray:
        """``encode(tokenize(text), max_length, truncating)``, the same ids, with the stop
        words dropped by the lookup instead of a Python loop over the words."""
        return self._ids(words(text), max_length, truncating)

    @functools.cached_property
    def _lookup(self) -> dict[str, int]:
        """``index``, with every stop word mapped to ``_DROPPED`` (a stop word is removed
        before the vocabulary is asked, even one the vocabulary holds)."""
        return self.index | dict.fromkeys(stop_words(), _DROPPED)

    def _ids(self, found: Sequence[str], max_length: int, truncating: str) -> np.ndarray:
        """One dict lookup per word through ``map``, one array mask for the stop words."""
        ids = np.fromiter(
            map(self._lookup.get, found, itertools.repeat(OOV_ID)), dtype=np.int32, count=len(found)
        )
        ids = ids[ids != _DROPPED]
        if len(ids) > max_length:
            ids = ids[:max_length] if truncating == "post" else ids[-max_length:]
        return ids

    def unknown_words(self, text: str) -> tuple[int, list[str]]:
        """``(words, unknown)``: how many words of ``text`` the model reads (stop words
        dropped, as ``tokenize``) and those the vocabulary does not know (its OOV ids)."""
        tokens = tokenize(text)
        return len(tokens), [w for w in tokens if w not in self.index]

    def oov_rate(self, texts: Iterable[str]) -> float:
        """Share of the words of ``texts`` that are out of the vocabulary (0.0 for none)."""
        total = unknown = 0
        for text in texts:
            n, missing = self.unknown_words(text)
            total, unknown = total + n, unknown + len(missing)
        return unknown / total if total else 0.0

    def to_json(self) -> dict[str, object]:
        return {"oov_token": self.oov_token, "pad_id": PAD_ID, "oov_id": OOV_ID, "words": list(self.words)}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Vocabulary:
        words = data["words"]
        assert isinstance(words, list)
        return cls(words=tuple(str(w) for w in words), oov_token=str(data.get("oov_token", DEFAULT_OOV_TOKEN)))


def pad(sequences: Sequence[np.ndarray], length: int, padding: str = "post") -> np.ndarray:
    """Stack id sequences into a ``(n, length)`` int32 matrix padded with ``PAD_ID``."""
    out = np.zeros((len(sequences), length), dtype=np.int32)
    for row, seq in enumerate(sequences):
        seq = seq[:length]
        if padding == "post":
            out[row, : len(seq)] = seq
        else:
            out[row, length - len(seq) :] = seq
    return out
