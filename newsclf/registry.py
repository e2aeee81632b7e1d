"""The model registry in SQL: register artifacts, list, promote, roll back.

Training calls ``register_artifact`` for each new version; workers read the
active version from ``model_versions`` (see ``worker.active_model``)::

    with sessions.begin() as session:
        row = register_artifact(session, Path("models/20261128-121530-3f9a1c"))
        promote(session, row.version, by="alice")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsclf.errors import InputError
from schema.models import ModelVersion
from schema.store import activate_model_version, active_model_version, register_model_version


def _read_json(path: Path, name: str) -> Any:
    file = path / name
    return json.loads(file.read_text(encoding="utf-8")) if file.exists() else None


def register_artifact(
    session: Session, path: Path, *, activate: bool = True, parent_version: str | None = None
) -> ModelVersion:
    """Verify the artifact at ``path`` and record it (its metrics, lineage and labels)."""
    from trainer.artifact import artifact_sha256, verify_artifact

    manifest = verify_artifact(path)
    version = manifest.get("version") or path.name
    if session.get(ModelVersion, version) is not None:
        raise InputError(f"model version {version} is already registered")
    metrics = _read_json(path, "metrics.json") or {}
    data = _read_json(path, "data.json") or {}
    config = _read_json(path, "config.json") or {}
    if parent_version is None and (current := active_model_version(session)) is not None:
        parent_version = current.version
    return register_model_version(
        session,
        version=version,
        sha256=artifact_sha256(path),
        path=str(path.resolve()),
        labels=_read_json(path, "labels.json"),
        metrics=metrics,
        config=config,
        accuracy=metrics.get("accuracy"),
        data_sha256=data.get("sha256"),
        parent_version=parent_version,
        activate=activate,
    )


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


def promote(session: Session, version: str) -> ModelVersion:
    """Make ``version`` the active model; workers switch within ``reload_interval_s``."""
    get_version(session, version)
    return activate_model_version(session, version)


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
