"""``NEWSCLF_LOG_FORMAT=json``: workers and beat log one JSON object per line.

Each line has ``ts`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``; a
line logged with ``extra={"fields": {...}}`` (the per-batch and per-merged-batch
lines) carries those fields as keys of its own, for log shippers to index::

    {"ts": "...", "level": "INFO", "logger": "newsclf.worker", "message": "batch ...",
     "event": "batch", "batch_id": "3f2a...", "size": 256, "padded_length": 120, ...}

Celery configures its loggers itself; ``install`` hooks its ``after_setup_*``
signals, so the worker's, the tasks' and beat's handlers all get the formatter.
Not JSON: what TensorFlow's C++ core writes to stderr itself while it starts (lines
like ``I0000 00:00:... port.cc:...``; ``TF_CPP_MIN_LOG_LEVEL=3`` silences most)
and Celery's last ``worker: Warm shutdown`` line.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

RESERVED = ("ts", "level", "logger", "message")
"""Keys every JSON line has; a field of the same name is prefixed with ``field_``."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line["event"] = line["message"].split(" ", 1)[0]
            for key, value in fields.items():
                line[f"field_{key}" if key in RESERVED else str(key)] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def use_json(logger: logging.Logger) -> None:
    """Every handler of ``logger`` (and of the root logger) writes JSON lines."""
    for handler in [*logger.handlers, *logging.getLogger().handlers]:
        handler.setFormatter(JsonFormatter())


def install(log_format: str) -> None:
    """Hook Celery's logging setup when ``log_format`` is ``json`` (idempotent)."""
    if log_format != "json":
        return
    # Warnings Celery raises before its logging is set up (running as root, say)
    # go through logging too, JSON from the first line; Celery replaces this
    # handler with its own, which ``_after_setup`` formats the same way.
    logging.captureWarnings(True)
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    from celery.signals import after_setup_logger, after_setup_task_logger

    after_setup_logger.connect(_after_setup, weak=False, dispatch_uid="newsclf-json-logs")
    after_setup_task_logger.connect(
        _after_setup, weak=False, dispatch_uid="newsclf-json-task-logs"
    )


def _after_setup(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is not None:
        use_json(logger)
