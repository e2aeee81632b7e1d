"""A job's input lines: the articles attached to it (``job_articles``, one row per
article, with the line it was first seen on), its other lines (``job_other_lines``:
repeats and rejected rows), and all of them read back with their predictions::

    with sessions.begin() as session:
        attached = add_job_articles(session, job_id, [(article_id, line)])
        add_job_other_lines(session, job_id, pairs, attached, rejected=[(7, "no text")])
    for line in job_lines(session, job_id, prefer_version="v1"): ...
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from sqlalchemy import Text, case, cast, func, insert, null, select, union_all
from sqlalchemy.orm import Session

from newsclf.schema.bulk import insert_new, one_of
from newsclf.schema.models import Article, JobArticle, JobOtherLine, Prediction


def add_job_articles(
    session: Session, job_id: int, pairs: Sequence[tuple[int, int | None]]
) -> set[int]:
    """Attach ``(article_id, line)`` pairs to a job; pairs already there are kept as they
    are. Returns the ids of the articles that were not in the job before."""
    if not pairs:
        return set()
    seen: dict[int, int | None] = {}
    for article_id, line in pairs:
        seen.setdefault(article_id, line)  # a feed may repeat an article: keep its first line
    values = [{"job_id": job_id, "article_id": a, "line": line} for a, line in seen.items()]
    inserted = insert_new(
        session,
        JobArticle,
        values,
        conflict=["job_id", "article_id"],
        returning=[JobArticle.article_id],
    )
    return set(inserted.scalars())


OTHER_LINE_REASON_CHARS = 500
"""Longest rejection reason kept in ``job_other_lines``."""


def add_job_other_lines(
    session: Session,
    job_id: int,
    pairs: Sequence[tuple[int, int]],
    attached: set[int],
    rejected: Sequence[tuple[int, str]] = (),
) -> int:
    """Record the input lines ``job_articles`` does not hold: of ``pairs``
    (``(article_id, line)``, as given to ``add_job_articles``, which returned
    ``attached``), every line after an article's first sight in the job, with the
    line of that first sight; and each ``(line, reason)`` of ``rejected``.
    Returns the rows written."""
    first: dict[int, int] = {}
    repeats: list[tuple[int, int]] = []
    for article_id, line in pairs:
        if article_id in attached and article_id not in first:
            first[article_id] = line
        else:
            repeats.append((article_id, line))
    earlier = list({a for a, _ in repeats if a not in first})
    if earlier:
        query = select(JobArticle.article_id, JobArticle.line).where(
            JobArticle.job_id == job_id, one_of(session, JobArticle.article_id, earlier)
        )
        first.update({a: line for a, line in session.execute(query)})
    values = [
        {"job_id": job_id, "line": line, "article_id": a, "repeat_of_line": first.get(a),
         "reason": None}
        for a, line in repeats
    ] + [
        {"job_id": job_id, "line": line, "article_id": None, "repeat_of_line": None,
         "reason": reason[:OTHER_LINE_REASON_CHARS]}
        for line, reason in rejected
    ]  # fmt: skip
    if values:
        session.execute(insert(JobOtherLine), values)
    return len(values)


class JobLine(NamedTuple):
    """One input line of a job: its article's columns (``article_id`` None: a rejected
    line) and the prediction shown for it (``label`` None: none yet). Plain columns,
    the article's text not among them: an export of many rows builds no ORM objects."""

    line: int | None
    repeat_of_line: int | None
    reason: str | None
    """Why the line was rejected."""
    article_id: int | None
    external_id: str | None
    url: str | None
    title: str | None
    source: str | None
    published_at: dt.datetime | None
    failed_reason: str | None
    model_version: str | None
    label: str | None
    confidence: float | None
    probabilities: str | None
    """The class probabilities as the JSON text stored (decoded by whoever needs them)."""


def job_lines(
    session: Session, job_id: int, *, prefer_version: str | None, chunk: int = 2000
) -> Iterator[JobLine]:
    """Every input line of job ``job_id``, in line order, streamed ``chunk`` rows at a
    time. A line's prediction is the one by ``prefer_version`` (the active model),
    else the article's newest."""
    by_preferred = case((Prediction.model_version == prefer_version, Prediction.id))
    newest = (
        select(
            Prediction.article_id,
            func.coalesce(func.max(by_preferred), func.max(Prediction.id)).label("pid"),
        )
        .join(JobArticle, JobArticle.article_id == Prediction.article_id)
        .where(JobArticle.job_id == job_id)
        .group_by(Prediction.article_id)
        .subquery()
    )
    lines = union_all(
        select(
            JobArticle.line.label("line"),
            JobArticle.article_id.label("article_id"),
            null().label("repeat_of_line"),
            null().label("reason"),
        ).where(JobArticle.job_id == job_id),
        select(
            JobOtherLine.line, JobOtherLine.article_id, JobOtherLine.repeat_of_line,
            JobOtherLine.reason,
        ).where(JobOtherLine.job_id == job_id),
    ).subquery()  # fmt: skip
    query = (
        select(
            lines.c.line,
            lines.c.repeat_of_line,
            lines.c.reason,
            Article.id,
            Article.external_id,
            Article.url,
            Article.title,
            Article.source,
            Article.published_at,
            Article.failed_reason,
            Prediction.model_version,
            Prediction.label,
            Prediction.confidence,
            cast(Prediction.probabilities, Text),
        )  # fmt: skip
        .select_from(lines)
        .outerjoin(Article, Article.id == lines.c.article_id)
        .outerjoin(newest, newest.c.article_id == lines.c.article_id)
        .outerjoin(Prediction, Prediction.id == newest.c.pid)
        .order_by(lines.c.line, lines.c.article_id)
        .execution_options(yield_per=chunk)
    )
    for part in session.execute(query).partitions():
        yield from (JobLine._make(row) for row in part)
