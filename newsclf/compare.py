"""Two model versions on the articles both scored (``newsclf models compare``)::

    with sessions() as session:
        figures = compare_versions(session, "v1", "v2", since=None)
    figures["agreement"], figures["confusion"]["v1 label"]["v2 label"]

``summarize`` is the plain arithmetic on ``(label_a, confidence_a, label_b,
confidence_b, gold)`` rows, so it is tested on a constructed case.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from newsclf.schema.monitoring import paired_predictions
from newsclf.schema.registry import get_version


def summarize(a: str, b: str, rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """Agreement, the confusion of ``a``'s labels (rows) against ``b``'s (columns),
    each version's accuracy on the rows with a gold label, and mean confidences."""
    n = agree = n_gold = right_a = right_b = 0
    sum_a = sum_b = 0.0
    confusion: Counter[tuple[str, str]] = Counter()
    for label_a, conf_a, label_b, conf_b, gold in rows:
        n += 1
        agree += label_a == label_b
        confusion[(label_a, label_b)] += 1
        sum_a += conf_a
        sum_b += conf_b
        if gold is not None:
            n_gold += 1
            right_a += label_a == gold
            right_b += label_b == gold
    labels = sorted({x for pair in confusion for x in pair})
    return {
        "a": a,
        "b": b,
        "articles": n,
        "agreement": agree / n if n else None,
        "confusion": {la: {lb: confusion[(la, lb)] for lb in labels} for la in labels},
        "feedback_articles": n_gold,
        "accuracy_on_feedback": {
            a: right_a / n_gold if n_gold else None,
            b: right_b / n_gold if n_gold else None,
        },
        "mean_confidence": {a: sum_a / n if n else None, b: sum_b / n if n else None},
    }


def compare_versions(
    session: Session, a: str, b: str, *, since: dt.datetime | None = None
) -> dict[str, Any]:
    """``summarize`` of the stored predictions of ``a`` and ``b`` (InputError for an
    unknown version)."""
    get_version(session, a)
    get_version(session, b)
    rows = paired_predictions(session, a, b, since=since)
    figures = summarize(a, b, (r[1:] for r in rows))
    figures["since"] = since.isoformat() if since else None
    return figures


def live_evidence(session: Session, champion: str | None) -> dict[str, Any]:
    """What live traffic says, recorded with a retraining (``training_runs.metrics``,
    key ``live``): the champion's accuracy on the feedback labels, and, when a shadow
    version runs, its agreement and feedback accuracy against the champion."""
    from newsclf.schema.monitoring import feedback_agreement
    from newsclf.schema.shadow import shadow_version

    if champion is None:
        return {}
    n, right = feedback_agreement(session, champion)
    evidence: dict[str, Any] = {
        "champion_feedback_articles": n,
        "champion_feedback_accuracy": right / n if n else None,
    }
    shadow = shadow_version(session)
    if shadow is not None and shadow != champion:
        figures = compare_versions(session, champion, shadow)
        figures.pop("confusion")
        evidence["shadow"] = figures
    return evidence
