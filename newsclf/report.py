"""The figures of ``newsclf report``: how the active model's labels, confidence and
input vocabulary drift, per day, from what it was trained on::

    with sessions.begin() as session:
        figures = build_report(session, settings=settings, since=None, source=None)
    html = render_html(figures)          # newsclf.report_html

Days are ingestion days. The training label distribution is ``label_counts`` of
the artifact's ``data.json`` (else each class's test support in its metrics);
the OOV baseline is the held-out test texts' rate in ``data.json`` (``oov_rate``:
the vocabulary was fit on the others, so their own rate would be biased low),
else the first day's of the report. OOV rates read up to ``TEXTS_PER_DAY``
articles a day through the shared preprocessing and the artifact's vocabulary.
Each report records its latest day's verdict in ``drift_checks``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session

from newsclf import drift
from newsclf.errors import NoModelError
from newsclf.schema import monitoring
from newsclf.schema.registry import active_model_version
from newsclf.schema.shadow import shadow_version
from newsclf.settings import Settings
from newsclf.worker.artifacts import local_artifact

TEXTS_PER_DAY = 2000
"""Most articles a day whose words are read for the OOV rate and new words."""

RECENT_DAYS = 1
"""Days at the end of the report whose unknown words count as recent."""


def training_distribution(data: dict[str, Any], metrics: dict[str, Any]) -> dict[str, float]:
    """Label shares of the training set (``data.json``), else of the test set."""
    counts = data.get("label_counts") or {
        label: c.get("support", 0) for label, c in (metrics.get("per_class") or {}).items()
    }
    return drift.shares(counts)


def build_report(
    session: Session,
    *,
    settings: Settings,
    since: dt.datetime | None = None,
    source: str | None = None,
    record: bool = True,
) -> dict[str, Any]:
    """Every figure of the report as JSON-ready data (see the module docstring)."""
    from newsclf.trainer.artifact import read_json
    from newsclf.trainer.preprocess import Vocabulary

    active = active_model_version(session)
    if active is None:
        raise NoModelError("no active model: nothing to report on yet")
    version = active.version
    path = local_artifact(session, version, settings.models_dir)
    vocab = Vocabulary.from_json(read_json(path, "vocab.json"))
    data = read_json(path, "data.json") if (path / "data.json").is_file() else {}
    training = training_distribution(data, active.metrics or {})
    window = {"since": since, "source": source}

    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_source: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, src, label, n in monitoring.label_counts_per_day(session, version, **window):
        per_day[day][label] += n
        per_source[src][label] += n
    confidences: dict[str, list[float]] = defaultdict(list)
    for day, c in monitoring.confidences_per_day(session, version, **window):
        confidences[day].append(c)
    words: dict[str, list[tuple[int, list[str]]]] = defaultdict(list)
    for day, text in monitoring.texts_per_day(session, per_day=TEXTS_PER_DAY, **window):
        words[day].append(vocab.unknown_words(text))

    days = sorted(set(per_day) | set(words))
    oov = {d: _rate(words[d]) for d in days if words[d]}
    baseline = data.get("oov_rate")
    baseline_from = "training" if baseline is not None else "first day"
    if baseline is None:
        baseline = oov[days[0]] if days and days[0] in oov else 0.0
    threshold = settings.drift_threshold
    rows = []
    for d in days:
        label_js = drift.js_distance(per_day[d], training) if training else 0.0
        oov_distance = drift.oov_js(oov[d], baseline) if d in oov else 0.0
        score = drift.day_score(label_js, oov_distance)
        conf = confidences.get(d, [])
        rows.append(
            {
                "day": d,
                "articles": sum(per_day[d].values()),
                "label_counts": dict(per_day[d]),
                "label_share": drift.shares(per_day[d]),
                "mean_confidence": sum(conf) / len(conf) if conf else None,
                "confidence_quantiles": drift.quantiles(conf),
                "under_review_threshold": sum(c < settings.low_confidence for c in conf) / len(conf)
                if conf
                else None,
                "oov_rate": oov.get(d),
                "oov_articles_read": len(words[d]),
                "label_js": label_js,
                "oov_js": oov_distance,
                "drift_score": score,
                "flagged": score > threshold,
            }
        )

    recent = set(days[-RECENT_DAYS:])
    unknown_recent = [m for d in days if d in recent for _, m in words[d]]
    unknown_earlier = [m for d in days if d not in recent for _, m in words[d]]
    shadow = shadow_version(session)
    throughput: dict[str, dict[str, int]] = defaultdict(dict)
    for day, v, n in monitoring.predictions_per_day_and_version(session, **window):
        throughput[day][v] = n
    versions = sorted({v for per in throughput.values() for v in per})
    figures: dict[str, Any] = {
        "model_version": version,
        "shadow_version": shadow,
        "since": since.isoformat() if since else None,
        "source": source,
        "threshold": threshold,
        "low_confidence": settings.low_confidence,
        "training": {
            "label_share": training,
            "oov_rate": baseline,
            "oov_baseline_from": baseline_from,
        },
        "days": rows,
        "sources": [
            {
                "source": s,
                "articles": sum(c.values()),
                "label_share": drift.shares(c),
                "label_js": drift.js_distance(c, training) if training else 0.0,
            }
            for s, c in sorted(per_source.items())
        ],
        "throughput": [{"day": d, "predictions": throughput[d]} for d in sorted(throughput)],
        "versions_in_service": [
            {
                "version": v,
                "role": "active" if v == version else "shadow" if v == shadow else "earlier",
                "first_day": min(d for d in throughput if v in throughput[d]),
                "last_day": max(d for d in throughput if v in throughput[d]),
                "predictions": sum(per.get(v, 0) for per in throughput.values()),
            }
            for v in versions
        ],
        "new_words": drift.new_words(
            drift.article_words(unknown_recent),
            drift.article_words(unknown_earlier),
            len(unknown_recent),
            len(unknown_earlier),
        ),
        "latest": rows[-1] if rows else None,
    }
    if record:
        last = rows[-1] if rows else None
        monitoring.record_drift_check(
            session,
            model_version=version,
            day=last["day"] if last else None,
            score=last["drift_score"] if last else None,
            flagged=bool(last and last["flagged"]),
            detail={k: last[k] for k in ("label_js", "oov_js", "oov_rate")}
            | {"threshold": threshold, "source": source}
            if last
            else {"threshold": threshold},
        )
    return figures


def _rate(read: list[tuple[int, list[str]]]) -> float:
    total = sum(n for n, _ in read)
    return sum(len(m) for _, m in read) / total if total else 0.0
