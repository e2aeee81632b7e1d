"""Where a registered model's artifact lies on this machine: in ``models_dir``,
fetched from the database's blob, or the path it was registered from::

    with sessions() as session:
        path = local_artifact(session, version, settings.models_dir)

Whatever is found must be the artifact the registry recorded (its MANIFEST.json
has the registered sha256) or it is refused; a fetched blob is checked before it
is unpacked (``trainer.blobs``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from newsclf.errors import NoModelError
from newsclf.schema.registry import get_version, model_blob_sha256, stored_blob
from newsclf.trainer.artifact import check_registered
from newsclf.trainer.blobs import MAX_BLOB_BYTES, unpack_artifact


def fetch_artifact(session: Session, version: str, models_dir: Path) -> Path:
    """``models_dir/VERSION`` from the database's blob (sha256 checked, then verified)."""
    row = get_version(session, version)
    blob = stored_blob(session, version, max_bytes=MAX_BLOB_BYTES)
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
    row = get_version(session, version)
    local = Path(models_dir) / version
    if local.is_dir():
        return check_registered(local, row.sha256)
    if model_blob_sha256(session, version) is not None:
        return fetch_artifact(session, version, models_dir)
    registered = Path(row.path)
    if registered.is_dir():
        return check_registered(registered, row.sha256)
    raise NoModelError(
        f"artifact of model {version} not found in {models_dir}, in the database or at {registered}"
    )
