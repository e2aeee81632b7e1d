"""Hostile model blobs and artifact copies, built byte by byte: tars that are not
plain files, sparse members that would expand to gigabytes, and an artifact copy
whose manifest was recomputed after a file changed."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path


def tar_of(*members: tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def plain(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, "/etc/passwd"
    return info, b""


def octal(value: int, width: int) -> bytes:
    return (b"%0*o" % (width - 1, value)) + b"\0"


def gnu_sparse_blob(realsize: int, data: bytes = b"A" * 10) -> bytes:
    """A tar whose one member is an old-style GNU sparse file ('S'): ``len(data)`` bytes
    stored, ``realsize`` bytes when expanded (the rest holes of zeros)."""
    info = tarfile.TarInfo("model.keras")
    info.size, info.type = len(data), tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "strict"))
    header[386:398], header[398:410] = octal(0, 12), octal(len(data), 12)  # one data block
    header[483:495] = octal(realsize, 12)  # the expanded size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    body = data + b"\0" * (-len(data) % 512)
    return bytes(header) + body + b"\0" * 1024


def pax_sparse_blob(realsize: int, data: bytes = b"A" * 10) -> bytes:
    """The same in pax's GNU sparse 0.1 form: a regular member whose pax header maps it."""
    info = tarfile.TarInfo("model.keras")
    info.size = len(data)
    info.pax_headers = {"GNU.sparse.map": f"0,{len(data)}", "GNU.sparse.size": str(realsize)}
    return tar_of((info, data))


def recomputed_manifest_copy(artifact: Path, into: Path) -> Path:
    """A copy of ``artifact`` with vocab.json changed and MANIFEST.json recomputed to match:
    it verifies on its own, but it is not the artifact that was registered."""
    copy = into / artifact.name
    shutil.copytree(artifact, copy)
    vocab = copy / "vocab.json"
    vocab.write_bytes(vocab.read_bytes() + b" ")
    manifest = json.loads((copy / "MANIFEST.json").read_text())
    manifest["files"]["vocab.json"] = {
        "sha256": hashlib.sha256(vocab.read_bytes()).hexdigest(),
        "bytes": vocab.stat().st_size,
    }
    (copy / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return copy
