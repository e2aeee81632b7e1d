"""The model registry in SQL: register artifacts (with their bytes), list,
promote, roll back, and fetch an artifact onto a machine that lacks it.

Training calls ``register_artifact`` for each new version; workers read the
active version from ``model_versions`` and, when its directory is not in their
``models_dir``, fetch it from ``model_blobs`` (see ``worker.active_model``)::

    with sessions.begin() as session:
        row = register_artifact(session, Path("models/20261128-121530-3f9a1c"), by="alice")
        promote(session, row.version, by="alice", reason="better on March data")
        rollback(session, by="alice")                    # back to the one before
    with sessions() as session:
        path = fetch_artifact(session, version, Path("models"))   # sha256 checked

A blob is the artifact directory as a deterministic tar (``newsclf.blobs``: its
format and the checks that make unpacking one safe). Whatever a worker loads,
fetched or found in its ``models_dir``, must be the artifact the registry
recorded: its MANIFEST.json has the registered sha256, or it is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsclf.blobs import MAX_BLOB_BYTES, pack_artifact, unpack_artifact
from newsclf.errors import ArtifactError, InputError, NoModelError
from schema.models import ModelBlob, ModelVersion
from schema.store import (
    activate_model_version,
    activation_history,
    active_model_version,
    model_blob_sha256,
    previous_active_version,
    register_model_version,
    store_model_blob,
)

__all__ = ["pack_artifact", "unpack_artifact"]  # re-exported: the registry's blob format


# -- blobs --------------------------------------------------------------------


def fetch_artifact(session: Session, version: str, models_dir: Path) -> Path:
    """``models_dir/VERSION`` from the database's blob (sha256 checked, then verified)."""
    row = get_version(session, version)
    size = session.scalar(
        select(func.length(ModelBlob.data)).where(ModelBlob.version == version)
    )
    if size is not None and size > MAX_BLOB_BYTES:  # refused before its bytes are read
        raise ArtifactError(
            f"model blob of version {version} is {size} bytes, more than {MAX_BLOB_BYTES}"
        )
    blob = session.get(ModelBlob, version)
    if blob is None:
        raise NoModelError(
            f"model {version} has no stored blob; register it from a machine that has it"
        )
    return unpack_artifact(
        blob.data,
        blob_sha256=blob.sha256,
        manifest_sha256=row.sha256,
        target=Path(models_dir) / version,
    )


def local_artifact(session: Session, version: str, models_dir: Path) -> Path:
    """Where ``version`` lies on this machine: ``models_dir``, else fetched from the
    database, else the path it was registered from. A directory found on disk must
    be the registered artifact (its manifest's sha256) or it is refused."""
    local = Path(models_dir) / version
    if local.is_dir():
        return check_identity(local, get_version(session, version).sha256)
    if model_blob_sha256(session, version) is not None:
        return fetch_artifact(session, version, models_dir)
    registered = Path(get_version(session, version).path)
    if registered.is_dir():
        return check_identity(registered, get_version(session, version).sha256)
    raise NoModelError(
        f"artifact of model {version} not found in {models_dir}, in the database or at {registered}"
    )


def check_identity(path: Path, registered_sha256: str) -> Path:
    """``path`` if its MANIFEST.json is the registered one (its files are checked
    against that manifest when loaded); ArtifactError otherwise, e.g. a local copy
    whose files were changed and its manifest recomputed."""
    from trainer.artifact import artifact_sha256

    if artifact_sha256(path) != registered_sha256:
        raise ArtifactError(
            f"tampered artifact {path}: its manifest is not the registered one "
            f"(sha256 {registered_sha256[:12]}...); delete it, the worker fetches the "
            "registered one from the database"
        )
    return path


# -- versions -------------------------------------------------------------------


def register_artifact(
    session: Session,
    path: Path,
    *,
    activate: bool = True,
    parent_version: str | None = None,
    data_sha256: str | None = None,
    by: str = "system",
    reason: str = "registered",
) -> ModelVersion:
    """Verify the artifact at ``path`` and record it: metrics, lineage (data sha256,
    config, parent = the active version unless given), labels and its bytes.

    Registering a version again with the same manifest re-stores its blob (the
    mend for a corrupted one); with another manifest it is an error."""
    from trainer.artifact import artifact_sha256, read_json, verify_artifact

    manifest = verify_artifact(path)
    version = str(manifest.get("version") or path.name)
    sha256 = artifact_sha256(path)
    existing = session.get(ModelVersion, version)
    if existing is not None:
        if existing.sha256 != sha256:
            raise InputError(f"model version {version} is already registered with another artifact")
        store_model_blob(session, version, pack_artifact(path))
        return existing
    metrics = read_json(path, "metrics.json") or {}
    data = read_json(path, "data.json") or {}
    if parent_version is None and (current := active_model_version(session)) is not None:
        parent_version = current.version
    row = register_model_version(
        session,
        version=version,
        sha256=sha256,
        path=str(path.resolve()),
        labels=read_json(path, "labels.json"),
        metrics=metrics,
        config=read_json(path, "config.json") or {},
        accuracy=_accuracy(metrics),
        data_sha256=data_sha256 or data.get("sha256"),
        parent_version=parent_version,
        activate=False,
    )
    store_model_blob(session, version, pack_artifact(path))
    if activate:
        activate_model_version(session, version, by=by, reason=reason)
    return row


def _accuracy(metrics: dict[str, Any]) -> float | None:
    value = metrics.get("accuracy")
    if value is None and isinstance(metrics.get("test"), dict):
        value = metrics["test"].get("accuracy")
    return float(value) if value is not None else None


def get_version(session: Session, version: str) -> ModelVersion:
    row = session.get(ModelVersion, version)
    if row is None:
        raise InputError(f"unknown model version {version!r}: see `newsclf models list`")
    return row


def list_versions(session: Session) -> list[ModelVersion]:
    return list(
        session.scalars(
            select(ModelVersion).order_by(
                ModelVersion.created_at.desc(), ModelVersion.version.desc()
            )
        )
    )


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
    from sqlalchemy import inspect

    from schema.db import make_engine, session_factory

    if database_url.startswith("sqlite"):
        local = database_url.split(":///", 1)[1] if ":///" in database_url else ""
        if not local or not Path(local).is_file():  # do not create an empty database file
            return None
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("model_blobs"):
                return None
        with session_factory(engine).begin() as session:
            row = register_artifact(session, path, activate=activate, by=by, reason="newsclf train")
            return describe(row)
    finally:
        engine.dispose()
