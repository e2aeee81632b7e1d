"""Re-enqueue stored articles for the active model (after a promotion, say).

The articles matching the filters become one new job; those the active model
has not labeled yet are published to the ``classify`` queue. Old predictions
stay, keyed by their version, so two versions can be compared in SQL::

    report = relabel(sessions=sessions, publisher=publisher, settings=settings,
                     since=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), source="bbc")

``since`` compares with the article's publication time, or its ingestion
time when the feed gave none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from newsclf.errors import NoModelError
from newsclf.schema.articles import matching_articles
from newsclf.schema.job_lines import add_job_articles
from newsclf.schema.jobs import create_job, finish_jobs_if_done
from newsclf.schema.registry import active_model_version
from newsclf.settings import Settings

if TYPE_CHECKING:  # the protocol only; publishing imports Celery
    from newsclf.worker.publish import Publisher

ID_CHUNK = 1000
"""Article ids attached to the job per statement."""


@dataclass
class RelabelReport:
    job_id: int
    model_version: str
    matched: int = 0
    published: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def relabel(
    *,
    sessions: sessionmaker[Session],
    publisher: Publisher,
    settings: Settings,
    since: dt.datetime | None = None,
    source: str | None = None,
) -> RelabelReport:
    """Create a job of the matching articles and publish those the active model lacks."""
    with sessions.begin() as session:
        active = active_model_version(session)
        if active is None:
            raise NoModelError("no active model to relabel with: train or promote one first")
        matched = matching_articles(
            session, version=active.version, since=since, source=source
        )
        filters = [f"since {since:%Y-%m-%d}" if since else "", f"source {source}" if source else ""]
        name = "relabel" + "".join(f", {f}" for f in filters if f)
        job = create_job(
            session, source=name, model_version=active.version, label_version=active.version
        )
        report = RelabelReport(job_id=job.id, model_version=active.version, matched=len(matched))
        for start in range(0, len(matched), ID_CHUNK):
            chunk = matched[start : start + ID_CHUNK]
            add_job_articles(session, job.id, [(article_id, None) for article_id, _ in chunk])
        job.total = len(matched)
        job.status = "running"
    todo = [article_id for article_id, needs in matched if needs]
    for start in range(0, len(todo), settings.task_chunk):
        publisher.publish(todo[start : start + settings.task_chunk])
    report.published = len(todo)
    with sessions.begin() as session:
        finish_jobs_if_done(session, [report.job_id])
    return report
