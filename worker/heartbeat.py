"""Workers say they are alive, and whether busy, in Redis: what ``newsclf status`` lists.

A worker busy with a long batch does not answer Celery's ``ping`` in time, so
``status`` read it as gone. Instead a thread of each worker writes one key
every ``HEARTBEAT_S`` seconds, with a time to live of ``HEARTBEAT_TTL_S``: a
worker whose key expired stopped (or hangs whole). The batch code only flips
fields in memory (``busy`` / ``idle``); nothing is written per batch::

    heartbeat = Heartbeat(broker_client(url), "w1@host")
    heartbeat.start()
    heartbeat.busy(2048); ...; heartbeat.idle()
    read_heartbeats(client)   # [{"name": "w1@host", "state": "busy", ...}]
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

log = logging.getLogger("newsclf.worker")

HEARTBEAT_PREFIX = "newsclf:worker:"
"""Redis key of a worker's heartbeat: this prefix and the worker's name."""

HEARTBEAT_S = 5.0
"""Seconds between two heartbeats of one worker."""

HEARTBEAT_TTL_S = 20
"""Seconds a heartbeat lives: a worker silent this long is no longer listed."""


class Heartbeat:
    """One worker's heartbeat thread and the state it reports."""

    def __init__(self, client: Any, name: str, *, every_s: float = HEARTBEAT_S) -> None:
        self.client = client
        self.name = name
        self.every_s = every_s
        self.started = time.time()
        self.busy_since: float | None = None
        self.articles = 0
        self.model_version: str | None = None
        self._stop = threading.Event()

    def busy(self, articles: int) -> None:
        self.busy_since, self.articles = time.time(), articles

    def idle(self) -> None:
        self.busy_since, self.articles = None, 0

    def state(self) -> dict[str, Any]:
        busy_since = self.busy_since
        return {
            "name": self.name,
            "pid": os.getpid(),
            "state": "busy" if busy_since is not None else "idle",
            "busy_since": busy_since,
            "articles": self.articles if busy_since is not None else 0,
            "model_version": self.model_version,
            "started": self.started,
            "at": time.time(),
        }

    def beat(self) -> None:
        self.client.set(HEARTBEAT_PREFIX + self.name, json.dumps(self.state()), ex=HEARTBEAT_TTL_S)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="newsclf-heartbeat", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """No more beats; the key is removed so ``status`` drops the worker at once."""
        self._stop.set()
        try:
            self.client.delete(HEARTBEAT_PREFIX + self.name)
        except Exception:  # noqa: BLE001 - it expires anyway
            pass

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.beat()
                failing = False
            except Exception as exc:  # noqa: BLE001 - Redis away: said once, tried again
                if not failing:
                    log.warning("heartbeat not written: %s", str(exc).splitlines()[0:1])
                failing = True
            self._stop.wait(self.every_s)


def read_heartbeats(client: Any) -> list[dict[str, Any]]:
    """Every live worker's last heartbeat, by name."""
    keys = sorted(client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=1000))
    if not keys:
        return []
    out = []
    for raw in client.mget(keys):
        if raw is None:  # expired between SCAN and MGET
            continue
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue
    return sorted(out, key=lambda h: str(h.get("name")))
