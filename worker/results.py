"""Reading results back: one job's labeled articles, the state of the newest jobs,
and the active model::

    for row in job_results(session, job_id=3): ...
    write_results(session, job_id=3, fmt="csv", output=sys.stdout)
    jobs = jobs_status(session, limit=10)      # or job_ids=[3, 4]
    model = model_status(session)              # None when no model is active
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from sqlalchemy.orm import Session

from newsclf.errors import InputError
from newsclf.schema.job_lines import RESULT_FIELDS, copy_job_lines, job_lines
from newsclf.schema.jobs import job_exists, job_progress, newest_jobs
from newsclf.schema.models import ModelVersion
from newsclf.schema.registry import active_model_version


def job_results(session: Session, *, job_id: int, chunk: int = 2000) -> Iterator[dict[str, Any]]:
    """One row per input line of a job, in line order (streamed): each article with the
    active model's prediction, else its newest (a shadow version's predictions do not
    replace the active model's); a repeat of an earlier line with that line
    (``repeat_of_line``) and the same article; a rejected line with its reason (status
    ``rejected``). ``probabilities`` is a dict (None: no prediction yet).

    ``line`` is the record's number in its feed (``worker.ingest``); a job of several
    feeds has one line 1 per feed."""
    _require_job(session, job_id)
    active = active_model_version(session)
    rows = _result_rows(session, job_id, active.version if active else None, chunk)
    for row, probabilities in rows:
        yield dict(zip(RESULT_FIELDS, row, strict=False)) | {
            "probabilities": json.loads(probabilities) if probabilities else None
        }


def write_results(session: Session, *, job_id: int, fmt: str, output: TextIO) -> None:
    """Write ``job_results`` to ``output`` as ``csv`` (a header, then one ``p_<label>``
    column per class of the active model, else of the first row's probabilities, in
    place of ``probabilities``) or ``jsonl``. On PostgreSQL the server formats the rows
    (``copy_job_lines``); elsewhere each row is formatted here, from plain columns."""
    _require_job(session, job_id)
    model = model_status(session)
    prefer = model["version"] if model else None
    if session.get_bind().dialect.name == "postgresql" and (model or fmt == "jsonl"):
        labels = model["labels"] if model else ()
        lines = copy_job_lines(session, job_id, prefer_version=prefer, fmt=fmt, labels=labels)
        for chunk in lines:
            output.write(chunk.decode())
        return
    rows = _result_rows(session, job_id, prefer, chunk=2000)
    if fmt == "jsonl":
        keys = RESULT_FIELDS[:-1]
        for row, probabilities in rows:
            head = json.dumps(dict(zip(keys, row, strict=True)), default=str)
            output.write(f'{head[:-1]}, "probabilities": {probabilities or "null"}}}\n')
        return
    writer = csv.writer(output, lineterminator="\n")
    labels: list[str] | None = model["labels"] if model else None
    if labels is not None:
        writer.writerow([*RESULT_FIELDS[:-1], *(f"p_{k}" for k in labels)])
    for row, probabilities in rows:
        probs = json.loads(probabilities) if probabilities else {}
        if labels is None:
            labels = sorted(probs)
            writer.writerow([*RESULT_FIELDS[:-1], *(f"p_{k}" for k in labels)])
        writer.writerow([*row, *(probs.get(k) for k in labels)])
    if labels is None:
        writer.writerow(RESULT_FIELDS[:-1])


def _require_job(session: Session, job_id: int) -> None:
    if not job_exists(session, job_id):
        raise InputError(f"no job {job_id}: list jobs with `newsclf status`")


def _result_rows(
    session: Session, job_id: int, prefer: str | None, chunk: int
) -> Iterator[tuple[tuple[Any, ...], str | None]]:
    """``(values of RESULT_FIELDS but probabilities, probabilities' JSON text)`` per line;
    the prediction shown is ``prefer``'s (the active version), else the newest."""
    for r in job_lines(session, job_id, prefer_version=prefer, chunk=chunk):
        if r.article_id is None:
            status = "rejected"
        else:
            status = (
                "labeled" if r.label is not None else ("failed" if r.failed_reason else "pending")
            )
        yield (
            r.line, r.article_id, r.external_id, r.url, r.title, r.source,
            r.published_at.isoformat() if r.published_at else None,
            r.model_version, r.label, r.confidence, status, r.repeat_of_line,
            r.reason if r.article_id is None else None, r.failed_reason,
        ), r.probabilities  # fmt: skip


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
