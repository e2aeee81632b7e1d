"""Whether the database answers, for readiness probes and ``newsclf health``::

    with sessions() as session:
        problem = database_problem(session=session)   # None, or one line saying what is wrong
"""

from __future__ import annotations

from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from newsclf.schema.models import ModelVersion


def ping(*, session: Session) -> None:
    """One round trip (``SELECT 1``); raises when the database does not answer."""
    session.execute(text("SELECT 1"))


def database_problem(*, session: Session, needs_model: bool = False) -> str | None:
    """None when the database answers with newsclf's tables (and, with ``needs_model``,
    an active model); otherwise one line saying what is missing."""
    ping(session=session)
    if not inspect(session.connection()).has_table("model_versions"):
        return "the database has no newsclf tables (run `newsclf db upgrade`)"
    if needs_model:
        active = session.scalar(select(ModelVersion.version).where(ModelVersion.is_active))
        if active is None:
            return "no active model (train one with `newsclf train`)"
    return None
