"""The shadow version: the one registry row workers score new articles with
besides the active model, writing its predictions under its own version::

    with sessions.begin() as session:
        set_shadow_version(session, "20261128-121530-3f9a1c")
    with sessions() as session:
        shadow_version(session)            # the version, or None
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsclf.schema.models import ModelVersion


def shadow_version(session: Session) -> str | None:
    """The version marked shadow, if any."""
    return session.scalar(select(ModelVersion.version).where(ModelVersion.is_shadow.is_(True)))


def set_shadow_version(session: Session, version: str | None) -> None:
    """Mark ``version`` as the only shadow (None: no shadow). Unmarks first: a partial
    unique index admits one shadow row at a time."""
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.is_shadow.is_(True))
        .values(is_shadow=False)
        .execution_options(synchronize_session="fetch")
    )
    if version is not None:
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.version == version)
            .values(is_shadow=True)
            .execution_options(synchronize_session="fetch")
        )
    session.flush()
