"""Shadow scoring: a candidate version labels live traffic beside the active model.

Workers score every article they newly claim with the shadow version too, in
the same call, and store its predictions under its own version; the
``article_labels`` view, job progress, ``results`` and review read the active
model's only. Compare the two with ``newsclf models compare``::

    with sessions.begin() as session:
        start_shadow(session, "20261128-121530-3f9a1c")
        stop_shadow(session)
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from newsclf.errors import InputError
from newsclf.schema.registry import get_version
from newsclf.schema.shadow import set_shadow_version, shadow_version


def start_shadow(session: Session, version: str) -> str | None:
    """Make ``version`` the shadow; returns the shadow it replaces (or None)."""
    row = get_version(session, version)
    if row.is_active:
        raise InputError(f"{version} is the active model: a shadow must be another version")
    before = shadow_version(session)
    set_shadow_version(session, version)
    return before


def stop_shadow(session: Session) -> str | None:
    """No shadow any more; returns the version that was (or None)."""
    before = shadow_version(session)
    set_shadow_version(session, None)
    return before
