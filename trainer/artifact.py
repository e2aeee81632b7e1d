"""The model artifact: one self-contained, verifiable directory per version.

Layout of ``<models_dir>/<version>/`` (version like ``20261128-121530-3f9a1c``)::

    model.keras        Keras native format, loads with safe_mode=True
    vocab.json         trainer.preprocess.Vocabulary.to_json()
    labels.json        label names in output order
    config.json        the full ModelConfig (preset included)
    metrics.json       held-out evaluation, history, timings
    data.json          training data sha256, row counts, skipped rows, duplicates
    versions.json      python / tensorflow / keras / numpy versions
    accuracy_loss.png  per-epoch curves;  confusion.png  held-out confusion matrix
    MANIFEST.json      sha256 and size of every file above

Files are written into a hidden staging directory next to the final one and
renamed into place, so a crash never leaves a half artifact. Files that the
manifest does not list are ignored (never read), so they cannot change what
loads; a listed file that is missing or differs refuses the artifact::

    path = write_artifact(models_dir, files={...json...}, model=model, plots=draw)
    manifest = verify_artifact(path)     # ArtifactError on anything wrong
    identity = artifact_sha256(path)     # sha256 of MANIFEST.json: the registry key
    check_registered(path, row.sha256)   # the copy here is the one the registry recorded

Storing an artifact in the database as bytes: ``trainer.blobs``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import secrets
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from newsclf.errors import ArtifactError

FORMAT = "newsclf-artifact/1"
"""Written into MANIFEST.json; bump when the layout changes."""

MANIFEST = "MANIFEST.json"
MODEL_FILE = "model.keras"
JSON_FILES = ("vocab.json", "labels.json", "config.json", "metrics.json", "data.json", "versions.json")
PLOT_FILES = ("accuracy_loss.png", "confusion.png")
REQUIRED_FILES = (MODEL_FILE, *JSON_FILES, *PLOT_FILES)
"""Every file a complete artifact holds besides the manifest."""


def new_version(now: dt.datetime | None = None) -> str:
    """A readable, sortable, unique id: local time plus 6 random hex digits."""
    now = now or dt.datetime.now()
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def library_versions() -> dict[str, str]:
    import keras
    import numpy
    import tensorflow

    return {
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }


def write_artifact(
    models_dir: str | Path,
    *,
    files: Mapping[str, Any],
    model: Any,
    plots: Callable[[Path], None],
    version: str | None = None,
) -> Path:
    """Write a complete artifact and return its directory.

    ``files`` maps each JSON file name to its content (versions.json is added
    when absent); ``model`` is saved as model.keras; ``plots(dir)`` draws the
    PNG files into ``dir``.
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    version = version or new_version()
    final = models_dir / version
    if final.exists():
        raise ArtifactError(f"artifact {final} already exists; choose another version")
    staging = models_dir / f".staging-{version}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        contents = {"versions.json": library_versions(), **files}
        for name in JSON_FILES:
            if name not in contents:
                raise ValueError(f"write_artifact needs {name}")
            _write_json(staging / name, contents[name])
        model.save(staging / MODEL_FILE)
        plots(staging)
        listed = {}
        for name in REQUIRED_FILES:
            if not (staging / name).is_file():
                raise ValueError(f"write_artifact did not produce {name}")
            listed[name] = {"sha256": _file_sha256(staging / name), "bytes": (staging / name).stat().st_size}
        manifest = {
            "format": FORMAT,
            "version": version,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "files": listed,
        }
        _write_json(staging / MANIFEST, manifest)
        os.replace(staging, final)  # atomic on one filesystem; fails if final appeared meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def verify_artifact(path: str | Path) -> dict[str, Any]:
    """The manifest of a complete, untouched artifact; ArtifactError (one line) otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"no model artifact at {path}")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"incomplete artifact {path}: {MANIFEST} is missing")
    try:
        manifest = json.loads(manifest_path.read_bytes())
        files = manifest["files"]
        assert isinstance(files, dict)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise ArtifactError(f"tampered artifact {path}: {MANIFEST} is not a valid manifest") from None
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"artifact {path} has format {manifest.get('format')!r}, expected {FORMAT}")
    unlisted = [name for name in REQUIRED_FILES if name not in files]
    if unlisted:
        raise ArtifactError(f"tampered artifact {path}: {MANIFEST} does not list {', '.join(unlisted)}")
    for name, entry in files.items():
        file = path / name
        if Path(name).name != name:
            raise ArtifactError(f"tampered artifact {path}: {MANIFEST} lists a path {name!r}")
        if not file.is_file():
            raise ArtifactError(f"incomplete artifact {path}: {name} is missing")
        if _file_sha256(file) != entry.get("sha256"):
            raise ArtifactError(f"tampered artifact {path}: {name} does not match its sha256 in {MANIFEST}")
    return manifest


def artifact_sha256(path: str | Path) -> str:
    """The artifact's identity: the sha256 of its MANIFEST.json bytes."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"incomplete artifact {path}: {MANIFEST} is missing")
    return hashlib.sha256(manifest_path.read_bytes()).hexdigest()


def check_registered(path: Path, registered_sha256: str) -> Path:
    """``path`` if its MANIFEST.json is the registered one (its files are checked
    against that manifest when loaded); ArtifactError otherwise, e.g. a local copy
    whose files were changed and its manifest recomputed."""
    if artifact_sha256(path) != registered_sha256:
        raise ArtifactError(
            f"tampered artifact {path}: its manifest is not the registered one "
            f"(sha256 {registered_sha256[:12]}...); delete it, the worker fetches the "
            "registered one from the database"
        )
    return path


def resolve_artifact(path_or_version: str | Path, models_dir: str | Path) -> Path:
    """A directory given as a path, or ``models_dir/<version>`` for a bare version id."""
    candidate = Path(path_or_version)
    if candidate.is_dir():
        return candidate
    in_models = Path(models_dir) / str(path_or_version)
    if in_models.is_dir():
        return in_models
    raise ArtifactError(f"unknown model {path_or_version!r}: not a directory, nor a version in {models_dir}")


def read_json(path: str | Path, name: str) -> Any:
    """A JSON file of an artifact (verify it first)."""
    try:
        return json.loads((Path(path) / name).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"artifact {path}: cannot read {name} ({exc})") from None


def _write_json(path: Path, content: Any) -> None:
    path.write_text(json.dumps(content, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
