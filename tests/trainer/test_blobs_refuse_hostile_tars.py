"""A model blob is refused, before anything is unpacked or expanded, unless it is a
plain tar of the registered artifact: sizes within limits and inside the blob, plain
files with plain names, no sparse members, its MANIFEST the registered one."""

from __future__ import annotations

import hashlib
import io
import tarfile
import tracemalloc
from pathlib import Path

import pytest
from hostile_artifacts import (
    gnu_sparse_blob,
    octal,
    pax_sparse_blob,
    plain,
    recomputed_manifest_copy,
    special,
    tar_of,
)

from newsclf.errors import ArtifactError
from newsclf.trainer.artifact import verify_artifact
from newsclf.trainer.blobs import blob_manifest, blob_members, pack_artifact, unpack_artifact


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (gnu_sparse_blob(3 << 30), "not a plain file"),
        (pax_sparse_blob(3 << 30), "not a plain file"),
        (tar_of(special("model.keras", tarfile.SYMTYPE)), "not a plain file"),
        (tar_of(special("model.keras", tarfile.LNKTYPE)), "not a plain file"),
        (tar_of(special("model.keras", tarfile.CHRTYPE)), "not a plain file"),
        (tar_of(special("models", tarfile.DIRTYPE)), "not a plain file"),
        (tar_of(special("pipe", tarfile.FIFOTYPE)), "not a plain file"),
        (tar_of(plain("/etc/cron.d/x")), "not a plain file name"),
        (tar_of(plain("../outside")), "not a plain file name"),
        (tar_of(plain("a/b")), "not a plain file name"),
        (tar_of(plain("..")), "not a plain file name"),
        (tar_of(plain("x"), plain("x")), "twice"),
        (tar_of(*(plain(f"f{i}") for i in range(65))), "more than 64 files"),
        (b"\x00" * 100 + b"not a tar at all" * 40, "not a tar"),
    ],
    ids=["gnu-sparse", "pax-sparse", "symlink", "hardlink", "device", "directory", "fifo",
         "absolute", "dotdot", "subdir", "dotdot-name", "duplicate", "too-many", "garbage"],
)  # fmt: skip
def test_a_blob_that_is_not_plain_files_is_refused_from_its_headers(
    blob: bytes, message: str
) -> None:
    with pytest.raises(ArtifactError, match=message):
        blob_members(blob)


def test_a_member_declaring_more_than_the_blob_holds_is_refused() -> None:
    blob = bytearray(tar_of(plain("model.keras", b"A" * 10), fmt=tarfile.USTAR_FORMAT))
    blob[124:136] = octal(100 << 20, 12)  # the size field says 100 MiB; 10 bytes follow
    blob[148:156] = b" " * 8
    blob[148:156] = b"%06o\0 " % sum(blob[:512])
    with pytest.raises(ArtifactError, match="more than the blob holds"):
        blob_members(bytes(blob))


def test_limits_on_each_member_and_on_the_blob_are_enforced() -> None:
    blob = tar_of(plain("a", b"x" * 600), plain("b", b"y" * 600))
    assert set(blob_members(blob)) == {"a", "b"}
    with pytest.raises(ArtifactError, match="declares 600 bytes, more than 500"):
        blob_members(blob, max_member_bytes=500)
    with pytest.raises(ArtifactError, match=f"is {len(blob)} bytes, more than 1000"):
        blob_members(blob, max_blob_bytes=1000)


@pytest.mark.parametrize("make", [gnu_sparse_blob, pax_sparse_blob], ids=["gnu", "pax"])
def test_unpacking_a_sparse_blob_reads_nothing_beyond_the_blob(
    make, tmp_path: Path
) -> None:
    blob = make(200 << 20)  # 10 bytes that would expand to 200 MiB
    tracemalloc.start()
    try:
        with pytest.raises(ArtifactError):
            unpack_artifact(blob, blob_sha256=hashlib.sha256(blob).hexdigest(),
                            manifest_sha256="0" * 64, target=tmp_path / "v1")  # fmt: skip
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, f"unpacking read {peak} bytes"
    assert list(tmp_path.iterdir()) == []


def test_a_blob_of_a_tampered_copy_with_a_recomputed_manifest_is_refused(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    from newsclf.trainer.artifact import artifact_sha256, verify_artifact

    registered = artifact_sha256(tiny_artifact)
    copy = recomputed_manifest_copy(tiny_artifact, tmp_path / "copy")
    verify_artifact(copy)  # consistent with itself ...
    blob = pack_artifact(copy, verify_artifact(copy))
    with pytest.raises(ArtifactError, match="holds another artifact"):  # ... but not registered
        blob_manifest(blob, blob_members(blob), registered, what="blob")
    with pytest.raises(ArtifactError, match="holds another artifact"):
        unpack_artifact(blob, blob_sha256=hashlib.sha256(blob).hexdigest(),
                        manifest_sha256=registered, target=tmp_path / "out" / "v")  # fmt: skip
    assert not (tmp_path / "out" / "v").exists()
    good = pack_artifact(tiny_artifact, verify_artifact(tiny_artifact))
    out = unpack_artifact(good, blob_sha256=hashlib.sha256(good).hexdigest(),
                          manifest_sha256=registered, target=tmp_path / "out" / "v")  # fmt: skip
    assert artifact_sha256(out) == registered


def test_a_blob_with_a_file_its_manifest_does_not_list_is_refused(
    tiny_artifact: Path,
) -> None:
    from newsclf.trainer.artifact import artifact_sha256

    good = pack_artifact(tiny_artifact, verify_artifact(tiny_artifact))
    extra = tar_of(*[(m, good[m.offset_data : m.offset_data + m.size])
                     for m in tarfile.open(fileobj=io.BytesIO(good)).getmembers()],
                   plain("evil.py", b"import os"))  # fmt: skip
    with pytest.raises(ArtifactError, match="unlisted: evil.py"):
        blob_manifest(extra, blob_members(extra), artifact_sha256(tiny_artifact), what="blob")
