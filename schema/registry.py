"""The model registry's tables: versions, their stored artifact bytes, promotion and
rollback. Plain functions taking ``session``; nothing here reads an artifact
directory (``trainer.blobs.artifact_record`` does, once, before registering)::

    with sessions.begin() as session:
        row = register_artifact(session, artifact_record(path), by="alice")
        promote(session, row.version, by="alice", reason="better on March data")
        rollback(session, by="alice")                    # back to the one before
    with sessions() as session:
        blob = stored_blob(session, version, max_bytes=MAX_BLOB_BYTES)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from newsclf.errors import ArtifactError, InputError, NoModelError
from newsclf.schema.models import (
    ModelActivation,
    ModelBlob,
    ModelVersion,
)
from newsclf.schema.views import refresh_article_labels_view

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
    """The active version's name (its row: ``active_model_version``)."""
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


def blob_size(session: Session, version: str) -> int | None:
    """The recorded size of ``version``'s stored blob (its bytes unread); None: no blob."""
    return session.scalar(select(ModelBlob.size).where(ModelBlob.version == version))


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


def register_model_version(
    session: Session,
    *,
    version: str,
    sha256: str,
    path: str,
    labels: Sequence[str],
    metrics: Mapping[str, Any] | None,
    config: Mapping[str, Any] | None,
    accuracy: float | None,
    data_sha256: str | None,
    parent_version: str | None = None,
    activate: bool = True,
    by: str = "system",
) -> ModelVersion:
    """Record a trained artifact in the registry; when ``activate``, make it the
    only active version (recorded as activated ``by``) and rebuild the
    ``article_labels`` view for its labels."""
    model = ModelVersion(
        version=version,
        sha256=sha256,
        path=str(path),
        labels=list(labels),
        metrics=dict(metrics) if metrics is not None else None,
        config=dict(config) if config is not None else None,
        accuracy=accuracy,
        data_sha256=data_sha256,
        parent_version=parent_version,
        is_active=False,
    )
    session.add(model)
    session.flush()
    if activate:
        activate_model_version(session, version, by=by, reason="registered")
    return model


def activate_model_version(
    session: Session, version: str, *, by: str = "system", reason: str | None = None
) -> ModelVersion:
    """Make ``version`` the only active model and rebuild the view for its labels;
    the change is recorded in ``model_activations`` (who: ``by``, why: ``reason``)."""
    model = session.get(ModelVersion, version)
    if model is None:
        raise LookupError(f"no model version {version!r}")
    if not model.is_active:
        record_activation(session, version, by=by, reason=reason)
    # Deactivate first: a partial unique index allows one active row at a time.
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.is_active.is_(True), ModelVersion.version != version)
        .values(is_active=False)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    model.is_active = True
    session.flush()
    refresh_article_labels_view(session.connection(), model.labels)
    return model


def active_model_version(session: Session) -> ModelVersion | None:
    """The active model version, if any."""
    return session.scalars(select(ModelVersion).where(ModelVersion.is_active.is_(True))).first()


def record_activation(
    session: Session, version: str, *, by: str, reason: str | None = None
) -> ModelActivation:
    """Close the open history row (if any) and open one for ``version``."""
    now = func.now()
    session.execute(
        update(ModelActivation)
        .where(ModelActivation.deactivated_at.is_(None))
        .values(deactivated_at=now)
        .execution_options(synchronize_session=False)
    )
    row = ModelActivation(version=version, by=by or "unknown", reason=reason)
    session.add(row)
    session.flush()
    return row


def activation_history(session: Session, limit: int | None = None) -> list[ModelActivation]:
    """Activations, newest first (ordered by id: timestamps can tie within a transaction)."""
    query = select(ModelActivation).order_by(ModelActivation.id.desc())
    return list(session.scalars(query.limit(limit) if limit else query))


def previous_active_version(session: Session) -> str | None:
    """The version that was active before the current one, per the history."""
    rows = activation_history(session)
    if not rows:
        return None
    current = rows[0].version
    return next((r.version for r in rows[1:] if r.version != current), None)


def store_model_blob(session: Session, version: str, data: bytes) -> ModelBlob:
    """Store (or replace) the artifact bytes of ``version`` with their sha256."""
    blob = session.get(ModelBlob, version) or ModelBlob(version=version)
    blob.sha256 = hashlib.sha256(data).hexdigest()
    blob.size = len(data)
    blob.data = data
    session.add(blob)
    session.flush()
    return blob


def model_blob_sha256(session: Session, version: str) -> str | None:
    """The stored blob's recorded sha256 (without reading its bytes); None: no blob."""
    return session.scalar(select(ModelBlob.sha256).where(ModelBlob.version == version))
