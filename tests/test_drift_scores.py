"""The drift arithmetic of ``newsclf report`` on distributions one can check by hand."""

from __future__ import annotations

import math

import pytest

from newsclf.drift import day_score, js_distance, new_words, oov_js, quantiles, shares


def test_js_distance_is_zero_for_the_same_shares_one_for_disjoint_ones_and_symmetric() -> None:
    assert js_distance({"a": 2, "b": 2}, {"a": 0.5, "b": 0.5}) == pytest.approx(0.0)
    assert js_distance({"a": 1}, {"b": 1}) == pytest.approx(1.0)
    p, q = {"a": 0.9, "b": 0.1}, {"a": 0.5, "b": 0.5}
    assert js_distance(p, q) == pytest.approx(js_distance(q, p))
    # By hand: m = (0.7, 0.3); JS divergence = (KL(p||m) + KL(q||m)) / 2, in bits.
    kl_p = 0.9 * math.log2(0.9 / 0.7) + 0.1 * math.log2(0.1 / 0.3)
    kl_q = 0.5 * math.log2(0.5 / 0.7) + 0.5 * math.log2(0.5 / 0.3)
    assert js_distance(p, q) == pytest.approx(math.sqrt((kl_p + kl_q) / 2))
    assert js_distance({"a": 1}, {}) == 0.0  # nothing to compare


def test_the_oov_distance_counts_only_a_rise_and_a_day_scores_the_larger_distance() -> None:
    assert oov_js(0.01, 0.03) == 0.0
    assert oov_js(0.10, 0.03) == pytest.approx(
        js_distance({"u": 0.10, "k": 0.90}, {"u": 0.03, "k": 0.97})
    )
    assert day_score(0.3, 0.1) == 0.3 and day_score(0.05, 0.1) == 0.1


def test_new_words_rank_the_rise_per_thousand_articles() -> None:
    from collections import Counter

    rows = new_words(Counter(zorb=5, old=5, once=1), Counter(old=50), 10, 100)
    assert [(r["word"], r["recent_per_1000"], r["earlier_per_1000"]) for r in rows] == [
        ("zorb", 500.0, 0.0), ("old", 500.0, 500.0),
    ]
    assert shares({"a": 1, "b": 3}) == {"a": 0.25, "b": 0.75}
    assert quantiles([1.0, 2.0, 3.0, 4.0, 5.0], (0.5,)) == [3.0]
