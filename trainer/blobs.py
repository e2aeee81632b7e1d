"""Model blobs: an artifact directory as one tar in the database, and the checks that
make unpacking a blob safe whatever its bytes are::

    record = artifact_record(Path("models/20261128-121530-3f9a1c"))  # verified once
    record.blob                                                      # deterministic tar
    unpack_artifact(data, blob_sha256=..., manifest_sha256=row.sha256, target=path)

``artifact_record`` is what the registry stores of an artifact (``schema.registry``);
nothing here touches a database.

A blob is an uncompressed tar written deterministically (sorted names, zero
times and owners) holding MANIFEST.json and the files it lists. Unpacking
trusts nothing in it until it is proved:

1. the blob's bytes match the sha256 stored with them (corruption);
2. its tar headers alone are read, within limits (``MAX_BLOB_BYTES`` in all,
   ``MAX_BLOB_FILES`` members, ``MAX_MEMBER_BYTES`` each), and every member must
   be a plain, non-sparse file with a plain name whose declared size lies inside
   the blob (so the members together hold no more than the blob): links,
   devices, directories, absolute or ``..`` paths and GNU/pax sparse members
   (a few bytes that expand to gigabytes) are refused;
3. the MANIFEST.json member must have the sha256 the registry recorded for the
   version (``model_versions.sha256``) before any other member is read, and
   the members must be exactly the files it lists, each of the listed size;
4. each member is written only if its sha256 is the manifest's, and the
   unpacked directory is verified again and renamed into place.

Member bytes are slices of the blob (never a decompressor or a sparse map), so
unpacking reads at most the blob itself. Any failure is one ArtifactError line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsclf.errors import ArtifactError
from newsclf.trainer.artifact import MANIFEST, artifact_sha256, read_json, verify_artifact

MAX_BLOB_FILES = 64
"""Most members a blob may hold; more means it is not an artifact."""

MAX_MEMBER_BYTES = 1 << 30
"""Largest file a blob may hold (a model far larger than any this project trains)."""

MAX_BLOB_BYTES = 2 << 30
"""Largest blob (checked in the database before its bytes are read)."""

_PLAIN_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)


@dataclass(frozen=True)
class ArtifactRecord:
    """What the registry stores of a verified artifact (``schema.registry``)."""

    version: str
    sha256: str
    """The artifact's identity: the sha256 of its MANIFEST.json."""
    path: str
    labels: list[str]
    metrics: dict[str, Any]
    config: dict[str, Any]
    accuracy: float | None
    data_sha256: str | None
    blob: bytes
    """The artifact as deterministic tar bytes (``pack_artifact``)."""


def artifact_record(path: Path) -> ArtifactRecord:
    """Verify the artifact at ``path`` once and read what the registry records of it:
    its identity, labels, metrics, config, training data sha256, and its bytes."""
    path = Path(path)
    manifest = verify_artifact(path)
    metrics = read_json(path, "metrics.json") or {}
    return ArtifactRecord(
        version=str(manifest.get("version") or path.name),
        sha256=artifact_sha256(path),
        path=str(path.resolve()),
        labels=list(read_json(path, "labels.json")),
        metrics=metrics,
        config=read_json(path, "config.json") or {},
        accuracy=_accuracy(metrics),
        data_sha256=(read_json(path, "data.json") or {}).get("sha256"),
        blob=pack_artifact(path, manifest),
    )


def _accuracy(metrics: dict[str, Any]) -> float | None:
    value = metrics.get("accuracy")
    if value is None and isinstance(metrics.get("test"), dict):
        value = metrics["test"].get("accuracy")
    return float(value) if value is not None else None


def pack_artifact(path: Path, manifest: dict[str, Any]) -> bytes:
    """The artifact at ``path`` as deterministic tar bytes; ``manifest`` is what
    ``verify_artifact(path)`` returned (so an artifact is verified once, not per use)."""
    names = sorted({MANIFEST, *manifest["files"]})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in names:
            data = (path / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def blob_members(
    data: bytes,
    *,
    what: str = "model blob",
    max_files: int = MAX_BLOB_FILES,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_blob_bytes: int = MAX_BLOB_BYTES,
) -> dict[str, tuple[int, int]]:
    """``name: (offset, size)`` of each member of the tar ``data``, reading headers only;
    ArtifactError unless every member is a plain file within the limits (see the
    module docstring)."""
    if len(data) > max_blob_bytes:
        raise ArtifactError(f"{what} is {len(data)} bytes, more than {max_blob_bytes}")
    members: dict[str, tuple[int, int]] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            while (member := tar.next()) is not None:
                if len(members) >= max_files:
                    raise ArtifactError(f"{what} holds more than {max_files} files")
                name = member.name
                if (
                    member.type not in _PLAIN_TYPES
                    or member.issparse()
                    or any(key.startswith("GNU.sparse") for key in member.pax_headers)
                ):
                    raise ArtifactError(
                        f"{what} holds {name!r}, which is not a plain file (type "
                        f"{member.type!r}{', sparse' if member.issparse() else ''})"
                    )
                if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
                    raise ArtifactError(f"{what} holds a path {name!r}, not a plain file name")
                if name in members:
                    raise ArtifactError(f"{what} holds {name!r} twice")
                if member.size > max_member_bytes:
                    raise ArtifactError(
                        f"{what}: {name!r} declares {member.size} bytes, more than "
                        f"{max_member_bytes}"
                    )
                if member.offset_data + member.size > len(data):
                    raise ArtifactError(
                        f"{what}: {name!r} declares {member.size} bytes, more than the blob holds"
                    )
                members[name] = (member.offset_data, member.size)
    except (tarfile.TarError, ValueError, OverflowError, UnicodeError) as exc:
        raise ArtifactError(f"{what} is not a tar ({exc})") from None
    return members


def blob_manifest(
    data: bytes, members: dict[str, tuple[int, int]], manifest_sha256: str, *, what: str
) -> dict[str, Any]:
    """The blob's manifest, once its bytes have the registered sha256 and the
    members are exactly the files it lists, each of its listed size."""
    if MANIFEST not in members:
        raise ArtifactError(f"{what} holds no {MANIFEST}")
    raw = _member_bytes(data, members[MANIFEST])
    if hashlib.sha256(raw).hexdigest() != manifest_sha256:
        raise ArtifactError(
            f"{what} holds another artifact: its {MANIFEST} is not the one registered "
            f"(sha256 {manifest_sha256[:12]}...)"
        )
    try:
        manifest = json.loads(raw)
        files = manifest["files"]
        sizes = {name: int(entry["bytes"]) for name, entry in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ArtifactError(f"{what}: {MANIFEST} is not a valid manifest") from None
    extra = sorted(set(members) - set(sizes) - {MANIFEST})
    missing = sorted(set(sizes) - set(members))
    if extra or missing:
        raise ArtifactError(
            f"{what} does not hold what its manifest lists"
            f" (unlisted: {', '.join(extra) or 'none'}; missing: {', '.join(missing) or 'none'})"
        )
    for name, size in sizes.items():
        if members[name][1] != size:
            raise ArtifactError(f"{what}: {name} is not the size its manifest lists")
    return dict(manifest)


def unpack_artifact(data: bytes, *, blob_sha256: str, manifest_sha256: str, target: Path) -> Path:
    """Check ``data`` (see the module docstring), unpack it next to ``target`` and
    rename it into place. ArtifactError (one line) on anything wrong; nothing is
    left behind then."""
    what = f"model blob of version {target.name}"
    actual = hashlib.sha256(data).hexdigest()
    if actual != blob_sha256:
        raise ArtifactError(
            f"{what} is corrupted: sha256 {actual[:12]}... but {blob_sha256[:12]}... was "
            "stored; re-store it with `newsclf models register PATH` from a good copy"
        )
    members = blob_members(data, what=what)
    files = blob_manifest(data, members, manifest_sha256, what=what)["files"]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".fetch-{target.name}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        for name, span in members.items():
            content = _member_bytes(data, span)
            if name != MANIFEST and hashlib.sha256(content).hexdigest() != files[name].get(
                "sha256"
            ):
                raise ArtifactError(f"{what}: {name} does not match its sha256 in {MANIFEST}")
            (staging / name).write_bytes(content)
        verify_artifact(staging)
        if artifact_sha256(staging) != manifest_sha256:
            raise ArtifactError(f"{what} holds another artifact (its manifest differs)")
        try:
            os.replace(staging, target)
        except OSError:
            if not target.is_dir():  # not "another process put it there first"
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _member_bytes(data: bytes, span: tuple[int, int]) -> bytes:
    offset, size = span
    return data[offset : offset + size]
