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
import itertools
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    Text,
    case,
    cast,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    union_all,
)
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


RESULT_FIELDS = (
    "line",
    "article_id",
    "external_id",
    "url",
    "title",
    "source",
    "published_at",
    "model_version",
    "label",
    "confidence",
    "status",
    "repeat_of_line",
    "rejected_reason",
    "failed_reason",
    "probabilities",
)
"""Columns of ``newsclf results``, in order."""


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
    lines, joined = _joined_lines(job_id, prefer_version)
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
        .select_from(joined)
        .order_by(lines.c.line, lines.c.article_id)
        .execution_options(yield_per=chunk)
    )
    for part in session.execute(query).partitions():
        yield from (JobLine._make(row) for row in part)


def copy_job_lines(
    session: Session,
    job_id: int,
    *,
    prefer_version: str | None,
    fmt: str,
    labels: Sequence[str] = (),
    chunk_rows: int = 1000,
) -> Iterator[bytes]:
    """PostgreSQL only: ``job_lines`` as the export writes them (``RESULT_FIELDS``),
    formatted by the server (``COPY (SELECT ...) TO STDOUT``), ``chunk_rows`` lines of
    bytes at a time: ``csv`` with a header and a ``p_<label>`` column per label of ``labels`` in
    place of ``probabilities``, or ``jsonl``, one JSON object per line. Labels and ids
    travel as bound parameters, never spliced into the SQL text."""
    lines, joined = _joined_lines(job_id, prefer_version)
    rejected = Article.id.is_(None)
    fields: dict[str, Any] = {
        "line": lines.c.line,
        "article_id": Article.id,
        "external_id": Article.external_id,
        "url": Article.url,
        "title": Article.title,
        "source": Article.source,
        "published_at": Article.published_at,
        "model_version": Prediction.model_version,
        "label": Prediction.label,
        "confidence": Prediction.confidence,
        "status": case(
            (rejected, "rejected"),
            (Prediction.id.is_not(None), "labeled"),
            (Article.failed_reason.is_not(None), "failed"),
            else_="pending",
        ),
        "repeat_of_line": lines.c.repeat_of_line,
        "rejected_reason": case((rejected, lines.c.reason)),
        "failed_reason": Article.failed_reason,
        "probabilities": Prediction.probabilities,
    }
    if fmt == "jsonl":
        pairs = [x for name, column in fields.items() for x in (literal(name), column)]
        columns: list[Any] = [func.json_build_object(*pairs)]
        options = "FORMAT text"
    else:
        # ISO 8601, as json renders a timestamp; each label's probability as a float.
        fields["published_at"] = func.to_json(Article.published_at).op("#>>", return_type=Text)(
            literal_column("'{}'")
        )
        del fields["probabilities"]
        columns = [column.label(name) for name, column in fields.items()] + [
            Prediction.probabilities[label].as_float().label(f"p_{label}") for label in labels
        ]
        options = "FORMAT csv, HEADER"
    query = select(*columns).select_from(joined).order_by(lines.c.line, lines.c.article_id)
    compiled = query.compile(dialect=session.get_bind().dialect)
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY ({compiled}) TO STDOUT WITH ({options})", compiled.params) as copy,
    ):
        while chunk := b"".join(itertools.islice(copy, chunk_rows)):
            yield _as_python_json(chunk) if fmt == "jsonl" else chunk


def _as_python_json(lines: bytes) -> bytes:
    """``json_build_object``'s lines as Python's ``json.dumps`` spaces them (``"key": v``
    for ``"key" : v``), their backslashes no longer doubled by COPY's text format (JSON
    holds no other byte that format escapes). Inside a string value ``" : `` can only
    follow a backslash (an escaped quote): those are set aside with a NUL byte, which
    JSON text never holds raw, while the keys' separators are tightened."""
    lines = lines.replace(b"\\\\", b"\\").replace(b'\\" : ', b"\0")
    return lines.replace(b'" : ', b'": ').replace(b"\0", b'\\" : ')


def _joined_lines(job_id: int, prefer_version: str | None) -> tuple[Any, Any]:
    """The job's lines (a subquery: ``line``, ``article_id``, ``repeat_of_line``,
    ``reason``), and them joined to their article and to the prediction shown for it:
    ``prefer_version``'s, else the article's newest."""
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
    joined = (
        lines.outerjoin(Article, Article.id == lines.c.article_id)
        .outerjoin(newest, newest.c.article_id == lines.c.article_id)
        .outerjoin(Prediction, Prediction.id == newest.c.pid)
    )
    return lines, joined
