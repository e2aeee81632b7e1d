"""Gold labels from editors (the ``feedback`` table) and the review list that
tells them which articles to label next::

    with sessions.begin() as session:
        add_label(session, 17, "sport", source="cli")
        report = import_labels_csv(session, Path("labels.csv"))   # article_id,label
    with sessions() as session:
        rows = review(session, threshold=0.6, limit=20, strategy="diverse")

A label must be one the active model knows (its output classes), so that a
retrained challenger and the champion are scored on the same label set. One
label per article: the last one given wins. A label records the review strategy
that last showed its article (``review_picks``), so each strategy's value can be
measured: how many of its picks were labeled, and how often the model was wrong.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from newsclf.errors import InputError, NoModelError
from newsclf.sampling import STRATEGIES, entropy, margin, pick
from newsclf.schema.articles import stored_article_ids
from newsclf.schema.feedback import upsert_feedback
from newsclf.schema.models import Article
from newsclf.schema.registry import active_model_version
from newsclf.schema.review import picked_strategies, record_picks, review_candidates

CSV_COLUMNS = ("article_id", "label")
"""Header a bulk label file must have (other columns are ignored)."""


MAX_ARTICLE_ID = 2**63 - 1
"""Largest article id the database can hold (BIGINT); a longer number is a bad row."""


@dataclass
class LabelImport:
    """What a bulk import stored and which rows it rejected (line, reason)."""

    stored: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"stored": self.stored, "rejected": len(self.rejected), "rows": self.rejected}


def known_labels(session: Session) -> list[str]:
    """The active model's classes: the labels feedback may use."""
    active = active_model_version(session)
    if active is None:
        raise NoModelError("no active model, whose classes say which labels exist: train one first")
    return list(active.labels)


def add_label(session: Session, article_id: int, label: str, *, source: str = "cli") -> None:
    """Store one gold label; InputError (one line) for an unknown article or label."""
    labels = known_labels(session)
    label = label.strip()
    if not 0 < article_id <= MAX_ARTICLE_ID or session.get(Article, article_id) is None:
        raise InputError(f"no article {article_id}")
    if label not in labels:
        raise InputError(f"unknown label {label!r}: the active model knows {', '.join(labels)}")
    strategy = picked_strategies(session, [article_id]).get(article_id)
    upsert_feedback(
        session,
        [{"article_id": article_id, "label": label, "source": source, "strategy": strategy}],
    )


def import_labels_csv(session: Session, path: Path) -> LabelImport:
    """Store every good row of a CSV file with ``article_id,label`` columns; bad rows
    (not a plain number or out of range, unknown article or label, empty, bytes that
    are not UTF-8, broken CSV) are reported with their line and reason, not fatal."""
    labels = set(known_labels(session))
    report = LabelImport()
    good: list[tuple[int, int, str]] = []  # line, article id, label
    # Bytes that are not UTF-8 become lone surrogates, caught per row below.
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        try:
            fieldnames = reader.fieldnames or []
        except csv.Error as exc:
            raise InputError(f"{path}: the header is not CSV ({exc})") from None
        missing = [c for c in CSV_COLUMNS if c not in fieldnames]
        if missing:
            raise InputError(f"{path}: needs columns {', '.join(CSV_COLUMNS)} (missing {missing})")
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # a NUL byte, a field over csv's limit: this row only
                report.rejected.append({"line": reader.line_num, "reason": f"not CSV ({exc})"})
                continue
            line = reader.line_num
            raw_id, label = (row.get("article_id") or "").strip(), (row.get("label") or "").strip()
            problem = _row_problem(raw_id, label, labels)
            if problem:
                report.rejected.append({"line": line, "reason": problem})
            else:
                good.append((line, int(raw_id), label))
    ids = {article_id for _, article_id, _ in good}
    existing = stored_article_ids(session, ids)
    picked = picked_strategies(session, sorted(existing))
    rows = []
    for line, article_id, label in good:
        if article_id in existing:
            strategy = picked.get(article_id)
            rows.append(
                {"article_id": article_id, "label": label, "source": "csv", "strategy": strategy}
            )
        else:
            report.rejected.append({"line": line, "reason": f"no article {article_id}"})
    report.rejected.sort(key=lambda r: r["line"])
    report.stored = upsert_feedback(session, rows)
    return report


def _row_problem(raw_id: str, label: str, labels: set[str]) -> str | None:
    """Why a row cannot be stored, or None."""
    if _undecodable(raw_id) or _undecodable(label):
        return "undecodable bytes (not UTF-8)"
    if not (raw_id.isascii() and raw_id.isdigit()):  # '²'.isdigit() is True, int('²') fails
        return f"article_id {raw_id[:40]!r} is not a number"
    if len(raw_id) > len(str(MAX_ARTICLE_ID)) or not 0 < int(raw_id) <= MAX_ARTICLE_ID:
        return f"article_id {raw_id[:40]} is out of range"
    if label not in labels:
        return f"unknown label {label[:80]!r}"
    return None


def _undecodable(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


REVIEW_POOL = 5000
"""Most candidates (the least confident under the threshold) a strategy ranks."""


def review(
    session: Session,
    *,
    threshold: float,
    limit: int,
    strategy: str = "confidence",
    pool: int = REVIEW_POOL,
) -> list[dict[str, Any]]:
    """Articles of the active model under ``threshold`` with no gold label yet, picked
    by ``strategy`` (``newsclf.sampling``) among the ``pool`` least confident; the
    picks are recorded, so a label given later says which strategy surfaced it."""
    active = active_model_version(session)
    if active is None:
        raise NoModelError("no active model yet: nothing has a confidence to review")
    if strategy not in STRATEGIES:
        raise InputError(f"unknown review strategy {strategy!r}: one of {', '.join(STRATEGIES)}")
    candidates = [
        {
            "article_id": r.article_id,
            "label": r.label,
            "confidence": r.confidence,
            "probabilities": r.probabilities or {},
            "title": r.title,
            "source": r.source,
            "day": r.ingested_at.date().isoformat() if r.ingested_at else None,
            "text": r.text,
        }
        for r in review_candidates(session, active.version, threshold=threshold, pool=pool)
    ]
    rows = pick(candidates, strategy, limit=limit)
    record_picks(session, {r["article_id"]: strategy for r in rows})
    for r in rows:
        r["text"] = r["text"][:200]
        r["model_version"] = active.version
        r["strategy"] = strategy
        r["margin"] = margin(r["probabilities"])
        r["entropy"] = entropy(r["probabilities"])
        del r["probabilities"]
    return rows
