"""Which uncertain articles an editor should label next: four review strategies,
plain functions over candidate dicts (``article_id``, ``label``, ``confidence``,
``probabilities``, ``source``, ``day``, ``text``), least confident first::

    picked = pick(candidates, "margin", limit=20)

- ``confidence``: the lowest top probability first (the classic).
- ``margin``: the smallest gap between the two most probable labels first: the
  model hesitates between two classes.
- ``entropy``: the highest entropy of the whole distribution first: the model
  has no idea among several classes.
- ``diverse``: each pick the candidate whose source, day and predicted label were
  picked least so far (ties: the least confident), never one whose words
  (``trainer.preprocess.tokenize``) overlap a picked one's by ``NEAR_DUPLICATE``
  or more (Jaccard): a batch spread over feeds, days and classes instead of
  twenty copies of one story.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from newsclf.trainer.preprocess import tokenize

STRATEGIES = ("confidence", "margin", "entropy", "diverse")
"""The strategies ``pick`` knows (also ``schema.models.REVIEW_STRATEGIES``)."""

NEAR_DUPLICATE = 0.8
"""Jaccard similarity of two texts' word sets at which ``diverse`` takes only one."""


def margin(probabilities: Mapping[str, float]) -> float:
    """Top probability minus the second (1.0 for a single class)."""
    top = sorted(probabilities.values(), reverse=True)
    return top[0] - (top[1] if len(top) > 1 else 0.0) if top else 1.0


def entropy(probabilities: Mapping[str, float]) -> float:
    """Shannon entropy in nats of the class distribution."""
    return -sum(p * math.log(p) for p in probabilities.values() if p > 0)


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def pick(candidates: Sequence[dict[str, Any]], strategy: str, *, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` of ``candidates`` (given least confident first) by ``strategy``."""
    if strategy == "confidence":
        return list(candidates[:limit])
    if strategy == "margin":
        return sorted(candidates, key=lambda c: margin(c["probabilities"]))[:limit]
    if strategy == "entropy":
        return sorted(candidates, key=lambda c: -entropy(c["probabilities"]))[:limit]
    if strategy == "diverse":
        return diverse(candidates, limit=limit)
    raise ValueError(f"unknown review strategy {strategy!r}: one of {', '.join(STRATEGIES)}")


def diverse(candidates: Sequence[dict[str, Any]], *, limit: int) -> list[dict[str, Any]]:
    """See the module docstring: greedy, least-picked source + day + label first."""
    left = list(candidates)
    words = {id(c): set(tokenize(c.get("text") or "")) for c in left}
    seen: dict[str, Counter[Any]] = {k: Counter() for k in ("source", "day", "label")}
    picked: list[dict[str, Any]] = []
    while left and len(picked) < limit:
        best = min(
            range(len(left)),
            key=lambda i: (sum(seen[k][left[i].get(k)] for k in seen), i),
        )
        chosen = left.pop(best)
        if any(jaccard(words[id(chosen)], words[id(p)]) >= NEAR_DUPLICATE for p in picked):
            continue
        picked.append(chosen)
        for k in seen:
            seen[k][chosen.get(k)] += 1
    return picked
