"""What the fault-injection tests share: a service to break, feeds, polling, a gate.

A ``Service`` is one fresh PostgreSQL database (migrated, the tiny model
active), one Redis database of its own, and the environment that CLI and
worker subprocesses get: small visibility timeout, the text hook of
``fault_hooks`` (gate, poison, killer) importable through PYTHONPATH::

    service = make_service(pg_url, tiny_artifact, tmp_path, redis_url=url)
    job_id = service.enqueue(feed)
    service.wait_done(job_id)

Waiting loops have deadlines only so that a broken build fails instead of
hanging; no test asserts how long anything took.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services import newsclf_cmd, service_env

HERE = Path(__file__).resolve().parent


VISIBILITY_TIMEOUT_S = 5
"""Redis redelivers a dead worker's messages after this long (the default is 120)."""


def wait_for(
    condition: Callable[[], Any], what: str, timeout: float = 240, every: float = 0.2
) -> Any:
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(every)


def assert_alive(worker: Any) -> None:
    """Fail at once, with its log, if ``worker`` (conftest's WorkerProcess) has exited."""
    code = worker.proc.poll()
    assert code is None, f"worker exited with {code}:\n{worker.log()[-4000:]}"


@dataclass
class Service:
    database_url: str
    redis_url: str
    env: dict[str, str]
    tmp: Path

    @property
    def gate(self) -> Gate:
        return Gate(Path(self.env["NEWSCLF_TEST_GATE"]))

    def cli(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            newsclf_cmd(*args), env={**self.env, **env}, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def enqueue(self, feed: Path, *args: str, **env: str) -> int:
        result = self.cli("enqueue", str(feed), "--json", *args, **env)
        assert result.returncode == 0, result.stderr
        return int(json.loads(result.stdout.strip().splitlines()[-1])["job_id"])

    def sql(self, query: str, **params: Any) -> list[Any]:
        """Rows of ``query``; retried while the database is restarting."""
        import sqlalchemy as sa

        deadline = time.monotonic() + 120
        while True:
            engine = sa.create_engine(
                self.database_url.replace("postgresql://", "postgresql+psycopg://")
            )
            try:
                with engine.connect() as conn:
                    return list(conn.execute(sa.text(query), params))
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
            finally:
                engine.dispose()

    def progress(self, job_id: int) -> dict[str, Any]:
        """The job's row and what its articles say: labeled, failed, pending."""
        [row] = self.sql(
            """
            SELECT j.status, j.total, j.labeled AS job_labeled, j.failed AS job_failed,
                   count(ja.article_id) AS articles,
                   count(ja.article_id) FILTER (WHERE EXISTS (
                       SELECT 1 FROM predictions p WHERE p.article_id = ja.article_id)) AS labeled,
                   count(ja.article_id) FILTER (WHERE a.failed_reason IS NOT NULL) AS failed
            FROM jobs j LEFT JOIN job_articles ja ON ja.job_id = j.id
            LEFT JOIN articles a ON a.id = ja.article_id
            WHERE j.id = :job GROUP BY j.id
            """,
            job=job_id,
        )
        out = dict(row._mapping)
        out["pending"] = out["articles"] - out["labeled"] - out["failed"]
        return out

    def wait_done(
        self, job_id: int, timeout: float = 300, alive: Callable[[], Any] | None = None
    ) -> dict[str, Any]:
        """Wait until the job is ``done``, calling ``alive`` (a check) on each poll."""

        def done() -> dict[str, Any] | None:
            if alive is not None:
                alive()
            p = self.progress(job_id)
            return p if p["status"] == "done" else None

        return wait_for(done, f"job {job_id} to finish", timeout=timeout, every=0.5)

    def predictions(self, job_id: int) -> dict[str, int]:
        """Prediction rows of the job's articles, distinct articles, most rows per article."""
        [row] = self.sql(
            """
            SELECT count(*) AS rows, count(DISTINCT p.article_id) AS articles,
                   coalesce(max(per.n), 0) AS most_per_article
            FROM job_articles ja JOIN predictions p ON p.article_id = ja.article_id
            LEFT JOIN (SELECT article_id, model_version, count(*) AS n FROM predictions
                       GROUP BY article_id, model_version) per
              ON per.article_id = p.article_id AND per.model_version = p.model_version
            WHERE ja.job_id = :job
            """,
            job=job_id,
        )
        return dict(row._mapping)


class Gate:
    """Hold workers inside their next batch (``fault_hooks.hook`` waits while the file exists)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held = Path(str(path) + ".held")

    def close(self, after: int = 0) -> None:
        """Hold each worker once it has seen ``after`` texts."""
        self.path.write_text(str(after))

    def open(self) -> None:
        self.path.unlink(missing_ok=True)
        self.held.unlink(missing_ok=True)

    def wait_held(self, worker: Any, timeout: float = 240) -> int:
        """Wait until a worker waits at the gate (mid-batch); the pid of that worker."""

        def held() -> int | None:
            assert_alive(worker)
            try:
                return int(self.held.read_text() or 0) or None
            except (FileNotFoundError, ValueError):
                return None

        return int(wait_for(held, "a worker to reach the gate", timeout=timeout))


def make_service(
    pg_url: str, redis_url: str, artifact: Path, tmp: Path, **settings: Any
) -> Service:
    """A fresh database (migrated, ``artifact`` active) and the subprocess environment."""
    from newsclf.schema.db import make_engine, session_factory, upgrade
    from newsclf.schema.registry import register_artifact
    from newsclf.trainer.blobs import artifact_record

    upgrade(pg_url)
    engine = make_engine(pg_url)
    with session_factory(engine).begin() as session:
        register_artifact(session, artifact_record(artifact))
    engine.dispose()
    settings.setdefault("visibility_timeout_s", VISIBILITY_TIMEOUT_S)
    settings.setdefault("text_hook", "fault_hooks:hook")
    env = service_env(
        database_url=pg_url, broker_url=redis_url, models_dir=tmp / "models", **settings
    )
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
    env["NEWSCLF_TEST_GATE"] = str(tmp / "gate")
    env["NEWSCLF_TEST_DEATHS"] = str(tmp / "deaths")
    return Service(pg_url, redis_url, env, tmp)


MID_JOB = {"batch_size": 128, "merge_size": 128, "task_chunk": 64}
"""Settings for faults injected mid-job: merged batches of 128 articles (two messages of
64), each acked on its own, so a worker held at the 1,000th text has some batches written and acked, one
in flight and the rest queued."""


def held_mid_job(
    service: Service, start_worker: Any, feed: Path, *, env: dict[str, str] | None = None
) -> tuple[Any, int]:
    """Start a worker (``env``: its environment, default the service's), enqueue ``feed``,
    and return ``(worker, job id)`` once the worker is held inside the batch with the
    1,000th text."""
    service.gate.close(after=1000)
    worker = start_worker(env or service.env)
    job = service.enqueue(feed)
    service.gate.wait_held(worker)
    return worker, job


def bbc_texts(bbc_csv: Path, n: int) -> list[str]:
    """``n`` distinct article texts from the BBC file (repeated with a tag past its end)."""
    seen: dict[str, str] = {}  # by layout-free text, as the content hash sees them
    with open(bbc_csv, newline="", encoding="utf-8") as src:
        for row in csv.DictReader(src):
            seen.setdefault(" ".join(row["text"].split()), row["text"])
    base = list(seen.values())
    return [
        base[i % len(base)] + ("" if i < len(base) else f" (edition {i // len(base)})")
        for i in range(n)
    ]


def write_csv(path: Path, texts: list[str], titles: list[str] | None = None) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "title", "text"])
        for i, text in enumerate(texts):
            title = titles[i] if titles else " ".join(text.split()[:8])
            writer.writerow([f"a-{i}", title, text])
    return path


class TcpProxy:
    """A TCP forwarder to cut one client off a shared server without stopping it.

    ``cut()`` drops every connection and closes each new one at once (the client
    sees the server go away and come back refusing); ``restore()`` forwards again.
    ``refused`` counts the connections closed while cut: proof a client retried."""

    def __init__(self, host: str, port: int) -> None:
        import socket
        import threading

        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.forwarding = True
        self.refused = 0
        self._open: list[Any] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        """``url`` (redis:// or postgresql://) pointed at this proxy instead of its server."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{self.port}")
        return urlunsplit(parts._replace(netloc=netloc))

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.forwarding:
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: Any, dst: Any) -> None:
        import socket

        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        import socket

        self.forwarding = False
        with self._lock:
            conns, self._open = self._open, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self) -> None:
        self.forwarding = True

    def close(self) -> None:
        self.cut()
        self.listener.close()
