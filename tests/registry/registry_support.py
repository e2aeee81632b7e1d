"""Helpers shared by the registry tests (a plain module, imported by name: a
conftest.py here would be one more module called ``conftest``)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services import newsclf_cmd as newsclf_cmd  # re-exported for the tests here
from services import service_env as service_env

TINY_RETRAIN_CONFIG = {
    "vocab_size": 2000,
    "embedding_dim": 16,
    "lstm_units": 8,
    "dense_units": 16,
    "max_length": 60,
    "epochs": 4,
    "learning_rate": 0.02,
    "validation_portion": 0.0,
    "patience": 0,
    "crop_probability": 0.0,
    "dropout": 0.0,
    "seed": 1,
}
"""A model that trains in seconds and still learns (about 0.75-0.8 accuracy on
500 BBC rows); ``learning_rate: 0`` makes the same model learn nothing."""


def run_cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        newsclf_cmd(*args), env=env, capture_output=True, text=True, timeout=timeout
    )


def last_json(stdout: str) -> Any:
    return json.loads(stdout.strip().splitlines()[-1])


def bbc_rows(bbc_csv: Path, start: int, n: int) -> list[dict[str, str]]:
    """``n`` rows of the BBC file from row ``start`` on, with distinct texts (also
    after whitespace is normalized, as the articles table dedups them)."""
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    with open(bbc_csv, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f)):
            key = " ".join(row["text"].split())
            if i >= start and key not in seen:
                seen.add(key)
                rows.append(row)
            if len(rows) == n:
                break
    return rows


def write_labeled(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["category", "text"])
        writer.writeheader()
        writer.writerows({"category": r["category"], "text": r["text"]} for r in rows)
    return path


def write_feed(path: Path, rows: list[dict[str, str]], prefix: str) -> Path:
    """A feed CSV (id, title, text) of ``rows``."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "text"])
        for i, r in enumerate(rows):
            writer.writerow([f"{prefix}-{i}", " ".join(r["text"].split()[:8]), r["text"]])
    return path


def clone_artifact(source: Path, models_dir: Path, version: str) -> Path:
    """A copy of an artifact under another version id (same weights, its own
    manifest, so its own registry identity): a second version without training."""
    target = models_dir / version
    shutil.copytree(source, target)
    manifest = json.loads((target / "MANIFEST.json").read_text())
    manifest["version"] = version
    (target / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return target


def wait_until(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f}s")
        time.sleep(0.3)
