"""Jobs: their status, counts, progress, report, and what one model version
labeled of their articles (the articles and lines themselves: ``job_lines``).
Plain functions taking ``session``::

    with sessions.begin() as session:
        job = create_job(session, source="bbc", model_version="v1")
        finish_jobs_if_done(session, [job.id])  # done once nothing is pending
        finish_jobs_of_articles(session, [article_id])  # after a worker's batch
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
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from newsclf.schema.articles import needs_label
from newsclf.schema.bulk import one_of
from newsclf.schema.models import (
    Article,
    Job,
    JobArticle,
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


def unfinished_job_ids(session: Session) -> list[int]:
    """Jobs whose articles may still need publishing: the open ones (``job_is_open``)
    and those still ``enqueuing`` (their enqueue may have been killed)."""
    query = select(Job.id).where(or_(job_is_open(), Job.status == "enqueuing"))
    return list(session.scalars(query))


def job_exists(session: Session, job_id: int) -> bool:
    return session.get(Job, job_id) is not None


def job_report(session: Session, job_id: int) -> dict[str, Any] | None:
    """The ``report`` of job ``job_id`` (which exists): its rejected rows and notes."""
    return session.get_one(Job, job_id).report


def newest_jobs(
    session: Session, *, limit: int = 10, job_ids: Sequence[int] | None = None
) -> list[Job]:
    """The newest ``limit`` jobs, or the jobs of ``job_ids`` that exist, newest first."""
    query = select(Job).order_by(Job.id.desc())
    query = query.where(Job.id.in_(list(job_ids))) if job_ids is not None else query.limit(limit)
    return list(session.scalars(query))


def job_status(session: Session, job_id: int) -> str:
    """The status of job ``job_id`` (which exists)."""
    return session.get_one(Job, job_id).status


def interrupt_enqueuing_job(session: Session, job_id: int) -> None:
    """Mark job ``job_id`` ``interrupted`` if it is still ``enqueuing``: its enqueue stopped."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "enqueuing")
        .values(status="interrupted")
    )


def end_enqueue(
    session: Session,
    job_id: int,
    *,
    total: int,
    new: int,
    duplicate: int,
    rejected: int,
    report: dict[str, Any],
    status: str,
) -> None:
    """A job's feed is read (or its reading stopped): its final counts, its
    ``report`` (``make_job_report``) and the status it goes on with."""
    job = session.get_one(Job, job_id)
    job.total, job.new, job.duplicate, job.rejected = total, new, duplicate, rejected
    job.report = report
    job.status = status


def job_articles_needing_label(
    session: Session, job_ids: Iterable[int], version: str
) -> list[int]:
    """The articles of the jobs ``job_ids`` that ``needs_label(version)``, by id."""
    in_jobs = select(JobArticle.article_id).where(JobArticle.job_id.in_(list(job_ids)))
    query = select(Article.id).where(Article.id.in_(in_jobs), needs_label(version))
    return list(session.scalars(query.order_by(Article.id)))


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


def finish_jobs_of_articles(session: Session, article_ids: Sequence[int]) -> list[int]:
    """Finish the open jobs holding any of ``article_ids`` that have nothing pending
    any more (``finish_jobs_if_done``); returns the ids finished by this call.

    Cheap in the middle of a big job: articles are published and labeled in id
    order, so scanning a job's articles from the highest id finds a pending one
    at once; the full count runs once, when nothing is pending."""
    holding = select(JobArticle.job_id).where(one_of(session, JobArticle.article_id, article_ids))
    open_jobs = session.scalars(select(Job.id).where(Job.id.in_(holding), job_is_open())).all()
    done = [j for j in open_jobs if not _has_pending(session, j)]
    return finish_jobs_if_done(session, done) if done else []


def _has_pending(session: Session, job_id: int) -> bool:
    """Whether a job still has an article without the prediction it waits for that has
    not failed."""
    first = session.scalar(
        select(JobArticle.article_id)
        .join(Article, Article.id == JobArticle.article_id)
        .join(Job, Job.id == JobArticle.job_id)
        .where(JobArticle.job_id == job_id, ~job_article_labeled(), Article.failed_reason.is_(None))
        .order_by(JobArticle.article_id.desc())
        .limit(1)
    )
    return first is not None


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
