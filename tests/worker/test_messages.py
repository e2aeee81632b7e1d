"""What a worker accepts off its queues (``worker.messages``), without Celery or Redis."""

from __future__ import annotations

from typing import Any

import pytest

from newsclf.settings import Settings
from newsclf.worker.messages import BIGINT_MAX, ID_CAP_CHUNKS, BadMessage, check_message, id_cap

CONSUMED = {"classify", "train"}


def check(
    body: Any, task: Any = "newsclf.classify", queue: Any = "classify", **headers: Any
) -> None:
    check_message(
        task, body, {"id": "t-1", **headers}, routing_key=queue, consumed=CONSUMED, id_cap=8
    )


def test_what_newsclf_publishes_is_accepted() -> None:
    check([[], {"article_ids": [1, 2, BIGINT_MAX]}, {}])
    empty_embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    check([[], {"article_ids": [5]}, empty_embed])
    check([[], {"trigger": "cli"}, {}], task="newsclf.retrain", queue="train")
    check([[], {}, {}], task="newsclf.retrain", queue="train", expires="2030-01-01T00:00:00")
    check([[], {}, {}], task="newsclf.reconcile")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"foo": 1}, "not [args, kwargs, embed]"),
        ("23", "not [args, kwargs, embed]"),
        ([[], {"article_ids": [1]}], "not [args, kwargs, embed]"),
        ([["abc"], {}, {}], "no positional arguments"),
        ([[], {"article_ids": [BIGINT_MAX + 1]}, {}], "out of range"),
        ([[], {"article_ids": [-1]}, {}], "out of range"),
        ([[], {"article_ids": [True]}, {}], "not an integer"),
        ([[], {"article_ids": ["7"]}, {}], "not an integer"),
        ([[], {"article_ids": list(range(1, 10))}, {}], "9 article ids, more than 8"),
        ([[], {"article_ids": [1], "x": 1}, {}], "unknown arguments ['x']"),
        ([[], {"article_ids": [1]}, {"chain": [{"task": "x"}]}], "chain are not accepted"),
    ],
)
def test_a_bad_classify_message_is_refused_with_why(body: Any, why: str) -> None:
    with pytest.raises(BadMessage) as refused:
        check(body)
    assert why in str(refused.value)


def test_a_task_runs_only_from_its_own_queue_and_only_if_this_worker_consumes_it() -> None:
    body = [[], {}, {}]
    with pytest.raises(BadMessage, match="runs only from queue 'train'"):
        check(body, task="newsclf.retrain", queue="classify")
    with pytest.raises(BadMessage, match="runs only from queue 'train'"):
        check_message(
            "newsclf.retrain", body, {"id": "t"}, routing_key="train", consumed={"classify"},
            id_cap=8,
        )  # fmt: skip
    with pytest.raises(BadMessage, match="unknown task"):
        check(body, task="celery.backend_cleanup")


def test_headers_celery_would_choke_on_are_refused() -> None:
    good = [[], {"article_ids": [1]}, {}]
    with pytest.raises(BadMessage, match="eta"):
        check(good, eta="2099-01-01T00:00:00")
    with pytest.raises(BadMessage, match="expires"):
        check(good, expires="soon")
    with pytest.raises(BadMessage, match="timelimit"):
        check(good, timelimit=[1])
    with pytest.raises(BadMessage, match="no task id"):
        check(good, id=None)


def test_the_id_cap_is_a_multiple_of_task_chunk() -> None:
    assert id_cap(Settings(task_chunk=64)) == ID_CAP_CHUNKS * 64
