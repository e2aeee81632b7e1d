"""Drift arithmetic for ``newsclf report``, plain functions on plain data::

    js_distance({"sport": 0.5, "tech": 0.5}, {"sport": 0.9, "tech": 0.1})
    oov_js(0.12, 0.05)            # an OOV rate against its baseline, same scale
    day_score(label_js, oov_js)   # what the flag compares with drift_threshold

Scores are Jensen-Shannon distances (base 2): 0 for identical distributions, 1
for distributions with no outcome in common, symmetric, defined when either side
has zeros. A day's label distribution is compared with the training set's; its
out-of-vocabulary rate, read as the two-outcome distribution (unknown word,
known word), with the baseline rate when it is higher. A day's drift score is
the larger of the two, flagged when it passes ``settings.drift_threshold``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def shares(counts: Mapping[str, float]) -> dict[str, float]:
    """Counts as shares of their total (all zeros: empty)."""
    total = float(sum(counts.values()))
    return {k: v / total for k, v in counts.items()} if total else {}


def js_distance(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen-Shannon distance (base 2) of two distributions over labels (normalized
    here; a label missing on one side has probability 0 there)."""
    p, q = shares(p), shares(q)
    keys = sorted(set(p) | set(q))
    if not keys or not p or not q:
        return 0.0
    a = np.array([p.get(k, 0.0) for k in keys])
    b = np.array([q.get(k, 0.0) for k in keys])
    m = (a + b) / 2

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    return math.sqrt(max(0.0, (kl(a) + kl(b)) / 2))


def oov_js(rate: float, baseline: float) -> float:
    """``js_distance`` of (unknown, known) word shares at ``rate`` and at ``baseline``;
    0 when ``rate`` is not above the baseline (fewer unknown words is no drift to fear)."""
    if rate <= baseline:
        return 0.0
    return js_distance({"oov": rate, "known": 1 - rate}, {"oov": baseline, "known": 1 - baseline})


def day_score(label_js: float, oov_distance: float) -> float:
    """A day's drift score: the larger of its label and OOV distances."""
    return max(label_js, oov_distance)


def quantiles(values: Sequence[float], qs: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 0.9)) -> list[float]:
    """The ``qs`` quantiles of ``values`` (linear interpolation), empty for no values."""
    return [float(x) for x in np.quantile(np.asarray(values), qs)] if len(values) else []


def new_words(
    recent: Counter[str], earlier: Counter[str], n_recent: int, n_earlier: int, *, top: int = 20
) -> list[dict[str, float]]:
    """Out-of-vocabulary words most newly frequent: per 1,000 articles in the recent
    days against the earlier ones, largest rise first (words seen in at least two
    recent articles)."""
    rows = []
    for word, count in recent.items():
        if count < 2:
            continue
        now = 1000 * count / max(n_recent, 1)
        before = 1000 * earlier.get(word, 0) / max(n_earlier, 1)
        rows.append({"word": word, "recent_per_1000": now, "earlier_per_1000": before})
    rows.sort(key=lambda r: (-(r["recent_per_1000"] - r["earlier_per_1000"]), r["word"]))
    return rows[:top]


def article_words(unknown: Iterable[Iterable[str]]) -> Counter[str]:
    """In how many articles each unknown word occurs (once per article)."""
    counts: Counter[str] = Counter()
    for words in unknown:
        counts.update(set(words))
    return counts
