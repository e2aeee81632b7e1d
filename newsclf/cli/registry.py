"""The registry as the CLI shows it: rows and activations as JSON-ready data, and
registering what ``newsclf train`` just trained::

    describe(get_version(session, version))     # {"version": ..., "active": ...}
    history(session, limit=10)                  # activations, newest first

The registry's tables are ``schema.registry``; an artifact is verified and packed
for it by ``trainer.blobs.artifact_record``; a worker finds or fetches one with
``worker.artifacts.local_artifact``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from newsclf.schema.models import ModelVersion
from newsclf.schema.registry import activation_history


def history(session: Session, limit: int | None = None) -> list[dict[str, Any]]:
    """Activations, newest first, as JSON-ready data."""
    return [
        {
            "version": r.version,
            "activated_at": r.activated_at.isoformat() if r.activated_at else None,
            "deactivated_at": r.deactivated_at.isoformat() if r.deactivated_at else None,
            "by": r.by,
            "reason": r.reason,
        }
        for r in activation_history(session, limit)
    ]


def describe(row: ModelVersion) -> dict[str, Any]:
    """A registry row as JSON-ready data."""
    return {
        "version": row.version,
        "active": bool(row.is_active),
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "accuracy": row.accuracy,
        "macro_f1": (row.metrics or {}).get("macro_f1"),
        "labels": row.labels,
        "sha256": row.sha256,
        "path": row.path,
        "data_sha256": row.data_sha256,
        "parent_version": row.parent_version,
    }


def register_trained(
    database_url: str, path: Path, *, activate: bool = True, by: str = "system"
) -> dict[str, Any] | None:
    """What ``newsclf train`` does after training: register the new artifact (parent:
    the active version) in the database at ``database_url``. None when there is no
    newsclf database there yet (no SQLite file, or never migrated): training still
    works without one, and ``newsclf models register PATH`` records it later."""
    from newsclf.schema.db import has_table, make_engine, session_factory
    from newsclf.schema.registry import register_artifact
    from newsclf.trainer.blobs import artifact_record

    if database_url.startswith("sqlite"):
        local = database_url.split(":///", 1)[1] if ":///" in database_url else ""
        if not local or not Path(local).is_file():  # do not create an empty database file
            return None
    engine = make_engine(database_url)
    try:
        if not has_table(engine, "model_blobs"):
            return None
        record = artifact_record(path)
        with session_factory(engine).begin() as session:
            row = register_artifact(session, record, activate=activate, by=by, reason="newsclf train")
            return describe(row)
    finally:
        engine.dispose()
