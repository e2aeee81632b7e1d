"""Plain helpers for tests: paths, the BBC data as rows and CSV files, the CLI as a
subprocess, the environment of a subprocess, a real worker process, and a migrated
database with the tiny model registered and the in-process Classifier. Fixtures
that use them live in ``conftest.py``; tests import these with
``from services import ...`` (``tests/`` is on the path, as the conftest's folder).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BBC_CSV = Path(os.environ.get("NEWSCLF_TEST_BBC", ROOT.parent / "shared" / "data" / "bbc-text.csv"))
VENV_BIN = Path(os.environ.get("NEWSCLF_TEST_BIN", Path(sys.executable).parent))


def newsclf_cmd(*args: str) -> list[str]:
    """The installed ``newsclf`` entry point, run as a subprocess."""
    return [str(VENV_BIN / "newsclf"), *args]


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
"""A model that trains in seconds and still learns on 500 BBC rows (well above
chance); ``learning_rate: 0`` makes the same model learn nothing."""


def run_cli(
    env: Mapping[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``newsclf ARGS`` as a subprocess with ``env``; its output captured as text."""
    return subprocess.run(
        newsclf_cmd(*args), env=dict(env), capture_output=True, text=True, timeout=timeout
    )


def last_json(stdout: str) -> Any:
    """The JSON object a ``--json`` command ends its output with."""
    return json.loads(stdout.strip().splitlines()[-1])


def bbc_rows(n: int, *, start: int = 0, distinct: bool = False) -> list[dict[str, str]]:
    """``n`` rows (``category``, ``text``) of the BBC file from row ``start`` on; with
    ``distinct``, skipping texts already taken (compared after whitespace is
    normalized, as the articles table dedups them)."""
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    with open(BBC_CSV, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if len(rows) == n:
                break
            key = " ".join(row["text"].split())
            if i >= start and not (distinct and key in seen):
                seen.add(key)
                rows.append({"category": row["category"], "text": row["text"]})
    return rows


def write_labeled(path: Path, rows: Iterable[Mapping[str, str]]) -> Path:
    """A labeled CSV (``category,text``), the trainer's default layout."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["category", "text"])
        writer.writeheader()
        writer.writerows({"category": r["category"], "text": r["text"]} for r in rows)
    return path


def write_feed(path: Path, texts: Iterable[str], *, prefix: str = "a") -> Path:
    """A feed CSV (``id,title,text``): ids ``PREFIX-0``..., each title the text's first words."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "text"])
        for i, text in enumerate(texts):
            writer.writerow([f"{prefix}-{i}", " ".join(text.split()[:8]), text])
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


def service_env(
    *, database_url: str, broker_url: str, models_dir: Path, **extra: str
) -> dict[str, str]:
    """The environment of a CLI or worker subprocess pointed at these services."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NEWSCLF_") or k.startswith("NEWSCLF_TEST_")
    }
    env.update(
        NEWSCLF_DATABASE_URL=database_url,
        NEWSCLF_BROKER_URL=broker_url,
        NEWSCLF_MODELS_DIR=str(models_dir),
        NEWSCLF_BATCH_WAIT_S="0.05",
        NEWSCLF_RELOAD_INTERVAL_S="0.5",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
        # Off unless a test asks: workers of parallel tests would race for one port.
        NEWSCLF_METRICS_PORT="0",
    )
    env.update({f"NEWSCLF_{k.upper()}": str(v) for k, v in extra.items()})
    return env


class WorkerProcess:
    """A real ``newsclf worker`` subprocess with its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, name: str = "w1") -> None:
        import subprocess

        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            newsclf_cmd("worker", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h"),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def version_of(artifact: Path) -> str:
    return str(json.loads((artifact / "MANIFEST.json").read_text())["version"])


class Database:
    """A migrated database, its sessions and the settings of in-process workers."""

    def __init__(self, url: str, models_dir: Path) -> None:
        from newsclf.schema.db import make_engine, session_factory, upgrade
        from newsclf.settings import Settings

        upgrade(url)
        self.engine = make_engine(url)
        self.sessions = session_factory(self.engine)
        self.settings = Settings(
            database_url=url, models_dir=models_dir, reload_interval_s=0, batch_size=16
        )

    def register(self, artifact: Path, *, activate: bool = True) -> str:
        from newsclf.schema.registry import register_artifact
        from newsclf.trainer.blobs import artifact_record

        record = artifact_record(artifact)
        with self.sessions.begin() as session:
            return register_artifact(session, record, activate=activate).version

    def store(self, rows: list[dict[str, Any]]) -> list[int]:
        from newsclf.schema.articles import upsert_articles

        with self.sessions.begin() as session:
            return [i for i, _ in upsert_articles(session, rows)]

    def classifier(self) -> Any:
        """The worker's Classifier with the real ActiveModel (and shadow, when set)."""
        from newsclf.worker.active_model import ActiveModel
        from newsclf.worker.batch import Classifier

        model = ActiveModel(self.sessions, self.settings)
        return Classifier(self.sessions, model, settings=self.settings)

    def sql(self, query: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return list(conn.execute(text(query), params).all())

    def sql_exec(self, query: str, **params: Any) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text(query), params)

    def close(self) -> None:
        self.engine.dispose()


def seed_prediction(conn: Any, *, confidence: float = 0.9, batch_id: str | None = None) -> None:
    """Model version ``v1``, article 1 and v1's prediction of it, in plain SQL: rows any
    schema revision since 0002 takes, for tests of the migrations after it."""
    from sqlalchemy import text

    conn.execute(
        text(
            "INSERT INTO model_versions (version, sha256, path, labels) VALUES ('v1', 'h', '/m', '[]')"
        )
    )
    conn.execute(text("INSERT INTO articles (text, content_sha256) VALUES ('a', 'h')"))
    conn.execute(
        text(
            "INSERT INTO predictions (article_id, model_version, label, confidence,"
            " probabilities, batch_id) VALUES (1, 'v1', 'tech', :confidence, '{}', :batch_id)"
        ),
        {"confidence": confidence, "batch_id": batch_id},
    )
