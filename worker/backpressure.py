"""How full the ``classify`` queue is, in articles, and waiting for room in it.

Counting the ids of every waiting message would read the whole queue; instead
the depth is ``LLEN classify`` times ``task_chunk`` (publishers put at most
that many ids in a message): an upper bound, exact while jobs publish full
messages, one round trip whatever the queue holds::

    queued_articles(client, task_chunk=256)   # 2 messages waiting -> 512
"""

from __future__ import annotations

from typing import Any

from worker.messages import CLASSIFY_QUEUE


def queued_articles(client: Any, *, task_chunk: int, queue: str = CLASSIFY_QUEUE) -> int:
    """Articles waiting in ``queue`` (not those a worker holds unacked): an upper bound."""
    return int(client.llen(queue)) * task_chunk
