"""What a job's articles were labeled: counts per label by one model version, the
least confident ones, the failed ones. Plain functions taking ``session``::

    with sessions() as session:
        summary = job_label_summary(session, job_id=3, version=v, low_confidence=0.5)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsclf.schema.models import Article, JobArticle, Prediction


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
