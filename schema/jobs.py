"""Jobs: a feed's articles and its other lines, counts, progress, report, and what
one model version labeled of them. Plain functions taking ``session``::

    with sessions.begin() as session:
        job = create_job(session, source="bbc", model_version="v1")
        add_job_articles(session, job.id, [(article_id, 2)])
        finish_jobs_if_done(session, [job.id])  # done once nothing is pending
        summary = job_label_summary(session, job_id=job.id, version="v1", low_confidence=0.5)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    and_,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from newsclf.schema.bulk import insert_new, one_of
from newsclf.schema.models import (
    Article,
    Job,
    JobArticle,
    JobOtherLine,
    Prediction,
)


@dataclass(frozen=True)
class JobLabels:
    """How model ``version`` labeled the articles of one job."""

    labels: dict[str, int]
    """Articles per label, the most frequent first."""
    low_confidence: int
    """Articles labeled with a confidence under the threshold asked for."""
    failed: int
    """Articles given up on (``failed_reason`` set)."""


def job_label_summary(
    session: Session, *, job_id: int, version: str, low_confidence: float
) -> JobLabels:
    """Label counts, low-confidence count and failed count of job ``job_id``."""
    in_job = select(JobArticle.article_id).where(JobArticle.job_id == job_id)
    by_version = (Prediction.model_version == version, Prediction.article_id.in_(in_job))
    counts = session.execute(
        select(Prediction.label, func.count())
        .where(*by_version)
        .group_by(Prediction.label)
        .order_by(func.count().desc())
    ).all()
    low = session.scalar(
        select(func.count())
        .select_from(Prediction)
        .where(*by_version, Prediction.confidence < low_confidence)
    )
    failed = session.scalar(
        select(func.count())
        .select_from(Article)
        .where(Article.id.in_(in_job), Article.failed_reason.is_not(None))
    )
    return JobLabels(
        labels={str(label): int(n) for label, n in counts},
        low_confidence=int(low or 0),
        failed=int(failed or 0),
    )


REPORT_MAX_ENTRIES = 1000
"""Most rejected rows and most notes kept in a job's report."""


def create_job(
    session: Session,
    *,
    source: str | None,
    model_version: str | None = None,
    status: str = "queued",
    label_version: str | None = None,
) -> Job:
    """A new job (flushed, so its id is known); ``enqueuing`` while its feed is stored;
    ``label_version``: only that version's predictions count as its progress (see
    ``job_progress``)."""
    job = Job(
        source=source, model_version=model_version, label_version=label_version, status=status
    )
    session.add(job)
    session.flush()
    return job


def set_job_counts(
    session: Session, job_id: int, *, new: int, duplicate: int, rejected: int
) -> None:
    """A job's row counts so far (``total`` is their sum): written in the transaction
    that stores the rows they count, so what a job shows is always what is stored."""
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(total=new + duplicate + rejected, new=new, duplicate=duplicate, rejected=rejected)
        .execution_options(synchronize_session=False)
    )


def job_is_open() -> ColumnElement[bool]:
    """Jobs whose labeling is not over: ``queued`` and ``running`` ones, and
    ``interrupted`` ones not yet seen with nothing pending. Not ``enqueuing`` ones:
    only their enqueue finishes them, once every row is stored."""
    return or_(
        Job.status.in_(("queued", "running")),
        and_(Job.status == "interrupted", Job.finished_at.is_(None)),
    )


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


@dataclass(frozen=True)
class Progress:
    """Where a job stands, counted from its articles."""

    job_id: int
    total: int
    labeled: int
    """Articles with a prediction: by the job's ``label_version`` when it has one (a
    relabel job), else by any model version."""
    failed: int
    """Articles given up on (``failed_reason`` set) and not labeled."""

    @property
    def pending(self) -> int:
        return self.total - self.labeled - self.failed


def job_article_labeled() -> Any:
    """SQL: a job's article (``JobArticle`` joined to ``Job``) has the prediction the job
    waits for: by the job's ``label_version`` if set, else by any version."""
    return exists().where(
        Prediction.article_id == JobArticle.article_id,
        or_(Job.label_version.is_(None), Prediction.model_version == Job.label_version),
    )


def job_progress(session: Session, job_ids: Sequence[int]) -> dict[int, Progress]:
    """Progress of each job in ``job_ids`` (a job with no articles: all zeros).

    One aggregate query: the job_articles primary key finds a job's articles, the
    (article_id, model_version) unique index answers "has a prediction" and the
    articles primary key "has failed", each a lookup per article of these jobs (no
    join the planner could turn into a scan of a whole table)."""
    ids = list(dict.fromkeys(job_ids))
    progress = {job_id: Progress(job_id, 0, 0, 0) for job_id in ids}
    if not ids:
        return progress
    labeled = job_article_labeled()
    failed = exists().where(
        Article.id == JobArticle.article_id, Article.failed_reason.is_not(None)
    )
    query = (
        select(
            JobArticle.job_id,
            func.count(),
            func.sum(case((labeled, 1), else_=0)),
            func.sum(case((and_(~labeled, failed), 1), else_=0)),
        )
        .join(Job, Job.id == JobArticle.job_id)  # its label_version, by primary key
        .where(JobArticle.job_id.in_(ids))
        .group_by(JobArticle.job_id)
    )
    for job_id, total, n_labeled, n_failed in session.execute(query):
        progress[job_id] = Progress(job_id, int(total), int(n_labeled or 0), int(n_failed or 0))
    return progress


def finish_jobs_if_done(session: Session, job_ids: Sequence[int]) -> list[int]:
    """Finish each open job of ``job_ids`` (``job_is_open``) that has nothing pending:
    labeled/failed counts and finished_at set, status ``done``; an ``interrupted``
    job keeps its status, so that it stays visible that it holds part of its feed.
    Returns the ids finished by this call: a job is finished once, even when
    several workers race to finish it."""
    finished = []
    for job_id, p in job_progress(session, job_ids).items():
        if p.pending:
            continue
        stmt = (
            update(Job)
            .where(Job.id == job_id, job_is_open())
            .values(
                status=case((Job.status == "interrupted", "interrupted"), else_="done"),
                labeled=p.labeled,
                failed=p.failed,
                finished_at=func.now(),
            )
            .execution_options(synchronize_session="fetch")
        )
        if cast(CursorResult[Any], session.execute(stmt)).rowcount:
            finished.append(job_id)
    return finished


def make_job_report(rejected: Iterable[Mapping[str, Any]], notes: Iterable[str]) -> dict[str, Any]:
    """A job's ``report``: at most ``REPORT_MAX_ENTRIES`` rejected rows and notes,
    with how many more there were."""
    report: dict[str, Any] = {"rejected": [], "notes": []}
    report.update(rejected_omitted=0, notes_omitted=0)
    for row in rejected:
        if len(report["rejected"]) < REPORT_MAX_ENTRIES:
            report["rejected"].append(dict(row))
        else:
            report["rejected_omitted"] += 1
    for note in notes:
        if len(report["notes"]) < REPORT_MAX_ENTRIES:
            report["notes"].append(str(note))
        else:
            report["notes_omitted"] += 1
    return report
