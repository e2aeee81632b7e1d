"""The artifact directory: complete, verified, identified by its manifest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from newsclf.errors import ArtifactError
from newsclf.trainer.artifact import (
    MANIFEST,
    REQUIRED_FILES,
    artifact_sha256,
    new_version,
    resolve_artifact,
    verify_artifact,
    write_artifact,
)
from newsclf.trainer.model import ModelConfig


def test_a_trained_artifact_holds_every_file_and_verifies(tiny_artifact: Path) -> None:
    names = {p.name for p in tiny_artifact.iterdir()}
    assert names == {*REQUIRED_FILES, MANIFEST}
    manifest = verify_artifact(tiny_artifact)
    assert manifest["version"] == tiny_artifact.name
    assert set(manifest["files"]) == set(REQUIRED_FILES)
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256((tiny_artifact / name).read_bytes()).hexdigest()
    for png in ("accuracy_loss.png", "confusion.png"):
        assert (tiny_artifact / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_artifact_records_config_data_metrics_and_versions(tiny_artifact: Path) -> None:
    config = json.loads((tiny_artifact / "config.json").read_text())
    assert config["preset"] == "default" and config["epochs"] == 1
    assert ModelConfig.from_json(config).to_json() == config
    data = json.loads((tiny_artifact / "data.json").read_text())
    assert len(data["sha256"]) == 64 and data["n_train"] + data["n_test"] > 250
    metrics = json.loads((tiny_artifact / "metrics.json").read_text())
    assert {"accuracy", "macro_f1", "per_class", "confusion", "history", "short_text"} <= set(metrics)
    versions = json.loads((tiny_artifact / "versions.json").read_text())
    assert {"python", "tensorflow", "keras", "numpy"} <= set(versions)


def test_the_identity_is_the_sha256_of_the_manifest(tiny_artifact: Path) -> None:
    expected = hashlib.sha256((tiny_artifact / MANIFEST).read_bytes()).hexdigest()
    assert artifact_sha256(tiny_artifact) == expected


def test_version_ids_are_readable_and_unique() -> None:
    ids = {new_version() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(v) == len("20261128-121530-3f9a1c") and v[8] == "-" for v in ids)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "model.keras").write_bytes(b"not a model"), "model.keras does not match"),
        (lambda p: (p / "config.json").unlink(), "config.json is missing"),
        (lambda p: (p / MANIFEST).unlink(), "MANIFEST.json is missing"),
        (lambda p: (p / MANIFEST).write_text("{"), "not a valid manifest"),
        (lambda p: _drop_from_manifest(p, "labels.json"), "does not list labels.json"),
    ],
)
def test_a_damaged_artifact_is_refused_with_one_line(tiny_artifact: Path, tmp_path: Path,
                                                      damage, message: str) -> None:  # type: ignore[no-untyped-def]
    copy = shutil.copytree(tiny_artifact, tmp_path / "copy")
    damage(copy)
    with pytest.raises(ArtifactError, match=message) as err:
        verify_artifact(copy)
    assert "\n" not in str(err.value)


def test_a_file_the_manifest_does_not_list_is_ignored(tiny_artifact: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_artifact, tmp_path / "copy")
    (copy / "NOTES.txt").write_text("a reviewer's note")
    assert verify_artifact(copy)["version"] == tiny_artifact.name


def test_a_missing_directory_or_unknown_version_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no model artifact"):
        verify_artifact(tmp_path / "nothing")
    with pytest.raises(ArtifactError, match="unknown model"):
        resolve_artifact("20990101-000000-abcdef", tmp_path)


def test_a_bare_version_resolves_in_the_models_directory(tiny_artifact: Path) -> None:
    assert resolve_artifact(tiny_artifact.name, tiny_artifact.parent) == tiny_artifact


def test_a_failed_write_leaves_no_directory_behind(tmp_path: Path) -> None:
    class Exploding:
        def save(self, path: Path) -> None:
            Path(path).write_bytes(b"half")
            raise RuntimeError("disk full")

    files = {name: {} for name in ("vocab.json", "labels.json", "config.json", "metrics.json",
                                   "data.json")}
    with pytest.raises(RuntimeError, match="disk full"):
        write_artifact(tmp_path, files=files, model=Exploding(), plots=lambda d: None)
    assert os.listdir(tmp_path) == []


def _drop_from_manifest(path: Path, name: str) -> None:
    manifest = json.loads((path / MANIFEST).read_text())
    del manifest["files"][name]
    (path / MANIFEST).write_text(json.dumps(manifest))


def test_an_artifact_is_verified_once_per_registration(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registering reads every file's sha256 once: the record and its blob share it."""
    from newsclf.trainer import artifact as artifact_module
    from newsclf.trainer import blobs

    verified: list[Path] = []
    real = artifact_module.verify_artifact

    def counting(path: str | Path) -> dict:
        verified.append(Path(path))
        return real(path)

    monkeypatch.setattr(blobs, "verify_artifact", counting)
    monkeypatch.setattr(artifact_module, "verify_artifact", counting)
    record = blobs.artifact_record(tiny_artifact)
    assert verified == [tiny_artifact]
    assert record.version == tiny_artifact.name
    assert record.sha256 == artifact_sha256(tiny_artifact)
    assert record.blob == blobs.pack_artifact(tiny_artifact, verify_artifact(tiny_artifact))


def test_a_copy_whose_manifest_is_not_the_registered_one_is_refused(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    from newsclf.trainer.artifact import check_registered

    copy = tmp_path / tiny_artifact.name
    shutil.copytree(tiny_artifact, copy)
    registered = artifact_sha256(tiny_artifact)
    assert check_registered(copy, registered) == copy
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["created"] = "another time"
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="not the registered one"):
        check_registered(copy, registered)
