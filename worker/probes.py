"""``/metrics``, ``/livez`` and ``/readyz`` on ``NEWSCLF_METRICS_PORT``, served from a thread.

``/livez`` answers 200 whenever the process can answer at all. ``/readyz``
answers 200 only once the model is loaded and warmed up (for a worker; beat
serves no model) and the database and broker answer; otherwise 503 with one
line saying why. The database and broker check is cached for ``CHECK_CACHE_S``
seconds, so a storm of probes costs one round trip each per interval::

    probes = Probes(metrics, check=service_check(sessions, broker_url), needs_model=True)
    probes.serve(9464)   # a daemon thread; None (logged) when the port is taken
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and prometheus_client: not for `broker_client`'s callers
    from newsclf.worker.metrics import Metrics

log = logging.getLogger("newsclf.worker")

CHECK_CACHE_S = 2.0
"""How long one database and broker check answers ``/readyz``."""

CHECK_TIMEOUT_S = 2.0
"""Socket timeout of the broker check (the database has its own connect timeout)."""


class Probes:
    """The answers of the three paths; ``serve`` puts them on a port."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        check: Callable[[], str | None],
        needs_model: bool,
        cache_s: float = CHECK_CACHE_S,
    ) -> None:
        self.metrics = metrics
        self.check = check
        self.needs_model = needs_model
        self.cache_s = cache_s
        self._checked_at = -float("inf")
        self._problem: str | None = None
        self._lock = threading.Lock()

    def live(self) -> tuple[int, str]:
        return 200, "ok"

    def ready(self) -> tuple[int, str]:
        if self.needs_model and self.metrics.version is None:
            return 503, "model not loaded yet"
        problem = self._services()
        if problem:
            return 503, problem
        served = f" model {self.metrics.version}" if self.needs_model else ""
        return 200, f"ready{served}"

    def _services(self) -> str | None:
        """The cached result of ``check`` (one caller runs it; the others wait for it)."""
        with self._lock:
            if time.monotonic() - self._checked_at >= self.cache_s:
                try:
                    self._problem = self.check()
                except Exception as exc:  # noqa: BLE001 - the reason is the answer
                    self._problem = one_line(exc)
                self._checked_at = time.monotonic()
            return self._problem

    def serve(self, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer | None:
        """Serve on ``host:port`` in a daemon thread; None (and one log line) when the
        port is taken, e.g. by another worker on this host: give each its own port."""
        probes = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    from newsclf.worker.metrics import CONTENT_TYPE

                    self._send(200, probes.metrics.exposition(), CONTENT_TYPE)
                elif path in ("/livez", "/readyz"):
                    code, line = probes.live() if path == "/livez" else probes.ready()
                    self._send(code, (line + "\n").encode(), "text/plain; charset=utf-8")
                else:
                    self._send(404, b"not found: /metrics, /livez, /readyz\n", "text/plain")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # probes every few seconds would drown the worker's log

        try:
            server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            log.warning(
                "metrics and probes off: port %d: %s (each process on a host needs its own "
                "NEWSCLF_METRICS_PORT)",
                port,
                exc.strerror or exc,
            )
            return None
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, name="newsclf-probes", daemon=True
        ).start()
        log.info("metrics on :%d/metrics, probes on /livez and /readyz", port)
        return server


def service_check(sessions: Any, broker_url: str | None) -> Callable[[], str | None]:
    """A check that the database (with newsclf's tables) and the broker (unless None)
    answer: None, or one line saying which does not."""
    from newsclf.schema.health import database_problem

    client: Any = None

    def check() -> str | None:
        nonlocal client
        try:
            with sessions() as session:
                problem = database_problem(session=session)
        except Exception as exc:  # noqa: BLE001
            return f"database: {one_line(exc)}"
        if problem:
            return f"database: {problem}"
        if broker_url is None:
            return None
        try:
            if client is None:
                client = broker_client(broker_url)
            client.ping()
        except Exception as exc:  # noqa: BLE001
            return f"broker: {one_line(exc)}"
        return None

    return check


def broker_client(broker_url: str) -> Any:
    """A Redis client of the broker with short timeouts (probes and heartbeats)."""
    import redis

    return redis.Redis.from_url(
        broker_url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S
    )


def one_line(exc: BaseException) -> str:
    """``exc`` as one line, secrets masked."""
    from newsclf.urls import mask_secrets

    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return mask_secrets(f"{type(exc).__name__}: {text}")[:300]


def serve_beat_probes(settings: Any) -> None:
    """Beat's port: the queue depth, ``/livez``, and ``/readyz`` (database and broker;
    beat serves no model). Nothing when ``metrics_port`` is 0."""
    if not settings.metrics_port:
        return
    from newsclf.schema.db import make_engine, session_factory
    from newsclf.worker.backpressure import queued_articles
    from newsclf.worker.metrics import Metrics

    client = broker_client(settings.broker_url)
    metrics = Metrics(
        queue_depth=lambda: queued_articles(client, task_chunk=settings.task_chunk)
    )
    sessions = session_factory(make_engine(settings.database_url))
    check = service_check(sessions, settings.broker_url)
    Probes(metrics, check=check, needs_model=False).serve(settings.metrics_port)


def serve_embedded_probes(settings: Any, sessions: Any) -> Metrics | None:
    """``newsclf run``'s port: its metrics (no queue: the queue is in-process), ``/livez``,
    ``/readyz`` (model warm, database answers). Only when NEWSCLF_METRICS_PORT is set
    (a one-off command opens no port by default) and not 0; else None."""
    if "metrics_port" not in settings.model_fields_set or not settings.metrics_port:
        return None
    from newsclf.worker.metrics import Metrics

    metrics = Metrics()
    check = service_check(sessions, None)
    Probes(metrics, check=check, needs_model=True).serve(settings.metrics_port)
    return metrics
