"""Reading results back: one job's labeled articles, the state of the newest jobs,
and the active model::

    for row in job_results(session, job_id=3): ...
    jobs = jobs_status(session, limit=10)      # or job_ids=[3, 4]
    model = model_status(session)              # None when no model is active
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session

from newsclf.errors import InputError
from newsclf.schema.job_lines import job_lines
from newsclf.schema.jobs import job_exists, job_progress, newest_jobs
from newsclf.schema.models import ModelVersion
from newsclf.schema.registry import active_model_version

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


def job_results(session: Session, *, job_id: int, chunk: int = 1000) -> Iterator[dict[str, Any]]:
    """One row per input line of a job, in line order (streamed): each article with the
    active model's prediction, else its newest (a shadow version's predictions do not
    replace the active model's); a repeat of an earlier line with that line
    (``repeat_of_line``) and the same article; a rejected line with its reason (status
    ``rejected``).

    ``line`` is the record's number in its feed (``worker.ingest``); a job of several
    feeds has one line 1 per feed."""
    if not job_exists(session, job_id):
        raise InputError(f"no job {job_id}: list jobs with `newsclf status`")
    active = active_model_version(session)
    prefer = active.version if active else None
    for line, repeat_of, reason, article, prediction in job_lines(
        session, job_id, prefer_version=prefer, chunk=chunk
    ):
        if article is None:
            yield dict.fromkeys(RESULT_FIELDS) | {
                "line": line, "status": "rejected", "rejected_reason": reason,
            }  # fmt: skip
            continue
        status = "labeled" if prediction else ("failed" if article.failed_reason else "pending")
        yield {
            "line": line,
            "article_id": article.id,
            "external_id": article.external_id,
            "url": article.url,
            "title": article.title,
            "source": article.source,
            "published_at": article.published_at.isoformat() if article.published_at else None,
            "model_version": prediction.model_version if prediction else None,
            "label": prediction.label if prediction else None,
            "confidence": prediction.confidence if prediction else None,
            "status": status,
            "repeat_of_line": repeat_of,
            "rejected_reason": None,
            "failed_reason": article.failed_reason,
            "probabilities": prediction.probabilities if prediction else None,
        }


def jobs_status(
    session: Session, *, limit: int = 10, job_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """The newest ``limit`` jobs, or the jobs of ``job_ids`` (those that exist), newest
    first, with progress: a finished job's counts as stored when it finished, an
    unfinished job's counted live over its own articles only (index lookups), so the
    cost follows the open jobs, never the size of the tables."""
    jobs = newest_jobs(session, limit=limit, job_ids=job_ids)
    unfinished = [j.id for j in jobs if j.finished_at is None]
    progress = job_progress(session, unfinished) if unfinished else {}
    out = []
    for job in jobs:
        p = progress.get(job.id)
        out.append(
            {
                "job_id": job.id,
                "source": job.source,
                "status": job.status,
                "total": job.total,
                "new": job.new,
                "duplicate": job.duplicate,
                "rejected": job.rejected,
                "labeled": p.labeled if p else job.labeled,
                "failed": p.failed if p else job.failed,
                "pending": p.pending if p else 0,
                "model_version": job.model_version,
                "created_at": job.created_at.isoformat() if job.created_at else None,
                "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            }
        )
    return out


def model_status(session: Session) -> dict[str, Any] | None:
    active: ModelVersion | None = active_model_version(session)
    if active is None:
        return None
    return {"version": active.version, "accuracy": active.accuracy, "labels": active.labels}
