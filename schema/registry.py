"""The model registry's tables: versions, their stored artifact bytes, promotion and
rollback. Plain functions taking ``session``; nothing here reads an artifact
directory (``trainer.blobs.artifact_record`` does, once, before registering)::

    with sessions.begin() as session:
        row = register_artifact(session, artifact_record(path), by="alice")
        promote(session, row.version, by="alice", reason="better on March data")
        rollback(session, by="alice")                    # back to the one before
    with sessions() as session:
        blob = stored_blob(session, version, max_bytes=MAX_BLOB_BYTES)

The activation history and the rows themselves are written by the functions of
``schema.store`` this module calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsclf.errors import ArtifactError, InputError, NoModelError
from newsclf.schema.models import ModelBlob, ModelVersion
from newsclf.schema.store import (
    activate_model_version,
    active_model_version,
    previous_active_version,
    register_model_version,
    store_model_blob,
)

if TYPE_CHECKING:  # a record is made by the trainer; only its fields are read here
    from newsclf.trainer.blobs import ArtifactRecord


def register_artifact(
    session: Session,
    record: ArtifactRecord,
    *,
    activate: bool = True,
    parent_version: str | None = None,
    by: str = "system",
    reason: str = "registered",
) -> ModelVersion:
    """Record a verified artifact: metrics, lineage (data sha256, config, parent = the
    active version unless given), labels and its bytes.

    Registering a version again with the same manifest re-stores its blob (the
    mend for a corrupted one); with another manifest it is an error."""
    existing = session.get(ModelVersion, record.version)
    if existing is not None:
        if existing.sha256 != record.sha256:
            raise InputError(
                f"model version {record.version} is already registered with another artifact"
            )
        store_model_blob(session, record.version, record.blob)
        return existing
    if parent_version is None and (current := active_model_version(session)) is not None:
        parent_version = current.version
    row = register_model_version(
        session,
        version=record.version,
        sha256=record.sha256,
        path=record.path,
        labels=record.labels,
        metrics=record.metrics,
        config=record.config,
        accuracy=record.accuracy,
        data_sha256=record.data_sha256,
        parent_version=parent_version,
        activate=False,
    )
    store_model_blob(session, record.version, record.blob)
    if activate:
        activate_model_version(session, record.version, by=by, reason=reason)
    return row


def active_version(session: Session) -> str | None:
    """The active version's name (its row: ``schema.store.active_model_version``)."""
    return session.scalar(select(ModelVersion.version).where(ModelVersion.is_active.is_(True)))


def get_version(session: Session, version: str) -> ModelVersion:
    """The registry row of ``version``; InputError when there is none."""
    row = session.get(ModelVersion, version)
    if row is None:
        raise InputError(f"unknown model version {version!r}: see `newsclf models list`")
    return row


def list_versions(session: Session) -> list[ModelVersion]:
    """Every registered version, newest first."""
    query = select(ModelVersion).order_by(
        ModelVersion.created_at.desc(), ModelVersion.version.desc()
    )
    return list(session.scalars(query))


def stored_blob(session: Session, version: str, *, max_bytes: int) -> ModelBlob:
    """The stored artifact bytes of ``version``; a blob over ``max_bytes`` is refused
    before its bytes are read (ArtifactError), a version without one is NoModelError."""
    size = session.scalar(select(func.length(ModelBlob.data)).where(ModelBlob.version == version))
    if size is not None and size > max_bytes:
        raise ArtifactError(
            f"model blob of version {version} is {size} bytes, more than {max_bytes}"
        )
    blob = session.get(ModelBlob, version)
    if blob is None:
        raise NoModelError(
            f"model {version} has no stored blob; register it from a machine that has it"
        )
    return blob


def promote(
    session: Session, version: str, *, by: str = "system", reason: str | None = None
) -> ModelVersion:
    """Make ``version`` the active model; workers switch within ``reload_interval_s``."""
    get_version(session, version)
    return activate_model_version(session, version, by=by, reason=reason or "promoted")


def rollback(session: Session, *, by: str = "rollback", reason: str | None = None) -> ModelVersion:
    """Re-activate the version that was active before the current one (per the history)."""
    current = active_model_version(session)
    previous = previous_active_version(session)
    if previous is None:
        raise InputError("nothing to roll back to: no other version was active before")
    why = reason or f"rollback from {current.version if current else 'none'}"
    return activate_model_version(session, previous, by=by, reason=why)
