"""What a worker accepts off the queues, checked before a message can touch a batch.

Anyone who can write to Redis can put a message on a queue, so every message
is read as untrusted: its task must be one of newsclf's, on the queue that task
belongs to (``TASK_QUEUES``), with a body of protocol 2's ``[args, kwargs,
embed]`` whose arguments are exactly what the task takes::

    check_message("newsclf.classify", body, headers, routing_key="classify",
                  consumed={"classify"}, id_cap=1024)   # raises BadMessage(why)

``newsclf.classify`` takes ``article_ids`` only: a list of at most ``id_cap``
positive integers that fit PostgreSQL's BIGINT. Plain Python, no Celery here;
``worker.consumer`` calls it for every message and discards the ones it refuses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from newsclf.settings import Settings

CLASSIFY_QUEUE = "classify"
"""Queue of article-classification tasks (payload: article ids)."""

TRAIN_QUEUE = "train"
"""Queue of retraining tasks, so training never blocks classification."""

TASK_QUEUES = {
    "newsclf.classify": CLASSIFY_QUEUE,
    "newsclf.reconcile": CLASSIFY_QUEUE,
    "newsclf.retrain": TRAIN_QUEUE,
}
"""Every task a worker runs, and the one queue it is taken from."""

BIGINT_MAX = 2**63 - 1
"""Largest article id (PostgreSQL BIGINT)."""

ID_CAP_CHUNKS = 4
"""A ``classify`` message may carry up to this many times ``task_chunk`` ids (publishers
send at most ``task_chunk``; the margin covers a publisher configured a little higher)."""

TRIGGER_CHARS = 32
"""Longest ``trigger`` a retrain message may name (``beat``, ``cli``)."""

_EMBED_KEYS = {"callbacks", "errbacks", "chain", "chord"}


class BadMessage(ValueError):
    """A message the worker refuses; the text says why, in a few words."""


def id_cap(settings: Settings) -> int:
    """Most article ids one ``classify`` message may carry."""
    return ID_CAP_CHUNKS * settings.task_chunk


def check_message(
    task: object,
    body: object,
    headers: Mapping[str, Any],
    *,
    routing_key: object,
    consumed: Collection[str],
    id_cap: int,
) -> None:
    """Raise ``BadMessage`` unless this message is one the worker may run."""
    if not isinstance(task, str) or task not in TASK_QUEUES:
        raise BadMessage(f"unknown task {short_repr(task)}")
    home = TASK_QUEUES[task]
    if routing_key != home or home not in consumed:
        raise BadMessage(f"{task} runs only from queue {home!r}, not from {short_repr(routing_key)}")
    if not isinstance(headers.get("id"), str) or not headers["id"]:
        raise BadMessage("no task id")
    for key in ("eta", "countdown"):
        if headers.get(key) is not None:
            raise BadMessage(f"{key} is not accepted (newsclf tasks run when they arrive)")
    _check_expires(headers.get("expires"))
    _check_timelimit(headers.get("timelimit"))
    if not isinstance(body, list | tuple) or len(body) != 3:
        raise BadMessage("body is not [args, kwargs, embed]")
    args, kwargs, embed = body
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        raise BadMessage("body is not [args, kwargs, embed]")
    if embed is not None and not isinstance(embed, dict):
        raise BadMessage("embed is not an object")
    for key, value in (embed or {}).items():
        if key not in _EMBED_KEYS:
            raise BadMessage(f"unknown embed key {short_repr(key)}")
        if value:
            raise BadMessage(f"{key} are not accepted")
    if task == "newsclf.classify":
        check_article_ids(args, kwargs, id_cap=id_cap)
    elif task == "newsclf.retrain":
        _check_retrain(args, kwargs)
    elif args or kwargs:
        raise BadMessage(f"{task} takes no arguments")


def check_article_ids(args: Any, kwargs: Mapping[str, Any], *, id_cap: int) -> list[int]:
    """The ids of a ``classify`` message: ``kwargs == {"article_ids": [...]}``, no args."""
    if args:
        raise BadMessage("classify takes no positional arguments")
    if set(kwargs) != {"article_ids"}:
        extra = sorted(map(str, set(kwargs) - {"article_ids"}))
        raise BadMessage(
            f"unknown arguments {short_repr(extra)}" if extra else "no article_ids"
        )
    ids = kwargs["article_ids"]
    if not isinstance(ids, list):
        raise BadMessage(f"article_ids is a {type(ids).__name__}, not a list")
    if len(ids) > id_cap:
        raise BadMessage(f"{len(ids)} article ids, more than {id_cap} per message")
    for i in ids:
        # bool is an int in Python: refused like any other non-integer.
        if type(i) is not int:
            raise BadMessage(f"article id {short_repr(i)} is not an integer")
        if not 1 <= i <= BIGINT_MAX:
            raise BadMessage(f"article id {short_repr(i)} is out of range 1..{BIGINT_MAX}")
    return ids


def _check_retrain(args: Any, kwargs: Mapping[str, Any]) -> None:
    if len(args) > 1 or set(kwargs) - {"trigger"} or (args and "trigger" in kwargs):
        raise BadMessage("retrain takes only trigger")
    trigger = args[0] if args else kwargs.get("trigger", "beat")
    if not isinstance(trigger, str) or not 0 < len(trigger) <= TRIGGER_CHARS:
        raise BadMessage(f"trigger must be a name of 1..{TRIGGER_CHARS} characters")


def _check_expires(value: object) -> None:
    if value is None:
        return
    if isinstance(value, str):
        try:
            dt.datetime.fromisoformat(value)
            return
        except ValueError:
            pass
    raise BadMessage(f"expires {short_repr(value)} is not an ISO 8601 time")


def _check_timelimit(value: object) -> None:
    if value is None:
        return
    ok = (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(v is None or (type(v) in (int, float) and v >= 0) for v in value)
    )
    if not ok:
        raise BadMessage(f"timelimit {short_repr(value)} is not [soft, hard]")


def short_repr(value: object, limit: int = 60) -> str:
    """``repr`` of a hostile value, cut to ``limit`` characters (never a newline)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
