"""``label_counts`` is exactly the count of predictions JOIN articles by (UTC day,
source, model version, label), whatever the writes: redelivered batches, batches
that are partly new, two model versions, NULL and empty sources, articles either
side of midnight UTC, a session in another time zone. The README's per-day query,
which reads it, answers what the view query that joins every row answers; and two
PostgreSQL writers that share count rows both commit (no deadlock)."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import Counter
from typing import Any

from services import ROOT
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from newsclf.schema.articles import upsert_articles
from newsclf.schema.db import make_engine, session_factory, upgrade
from newsclf.schema.models import Article, LabelCount, Prediction
from newsclf.schema.predictions import insert_predictions

UTC = dt.UTC
DAY1, DAY2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)

ARTICLES = [  # (source, ingested_at in UTC)
    ("bbc", dt.datetime(2024, 3, 1, 8, 0, tzinfo=UTC)),
    ("bbc", dt.datetime(2024, 3, 1, 23, 30, tzinfo=UTC)),  # 2 March in Tokyo
    (None, dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)),
    ("", dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)),  # apart from NULL
    ("cnn", dt.datetime(2024, 3, 2, 0, 30, tzinfo=UTC)),  # 1 March in New York
    ("bbc", dt.datetime(2024, 3, 2, 9, 0, tzinfo=UTC)),
    (None, dt.datetime(2024, 3, 2, 10, 0, tzinfo=UTC)),
    ("bbc", dt.datetime(2024, 3, 2, 11, 0, tzinfo=UTC)),  # never labeled
]

PROBS = {
    "business": {"business": 0.8, "sport": 0.1, "tech": 0.1},
    "sport": {"business": 0.1, "sport": 0.8, "tech": 0.1},
    "tech": {"business": 0.1, "sport": 0.1, "tech": 0.8},
}


def store_articles(sessions: sessionmaker[Session], articles: list[tuple[Any, Any]]) -> list[int]:
    """Store ``(source, ingested_at)`` articles; their ids, in order."""
    with sessions.begin() as session:
        rows = [{"text": f"article {n}", "source": s} for n, (s, _) in enumerate(articles)]
        ids = [i for i, _ in upsert_articles(session, rows)]
        for article_id, (_, at) in zip(ids, articles, strict=True):
            session.execute(update(Article).where(Article.id == article_id).values(ingested_at=at))
    return ids


def labeled(prediction: Any, ids: list[int], version: str, labels: str) -> list[dict]:
    """Prediction rows: article ``ids[k]`` labeled ``labels.split()[k]``."""
    return [prediction(i, version, PROBS[lab]) for i, lab in zip(ids, labels.split(), strict=True)]


def utc_day(at: dt.datetime) -> dt.date:
    """The UTC date of a stored timestamp (SQLite gives it back naive, in UTC)."""
    return (at.astimezone(UTC) if at.tzinfo else at).date()


def joined_counts(session: Session) -> Counter:
    """Predictions JOIN articles counted in Python by (day, source, version, label)."""
    rows = session.execute(
        select(
            Article.ingested_at, Article.source, Prediction.model_version, Prediction.label
        ).join(Article, Article.id == Prediction.article_id)
    )
    return Counter((utc_day(at), s, v, lab) for at, s, v, lab in rows)


def stored_counts(session: Session) -> Counter:
    rows = session.execute(
        select(
            LabelCount.day,
            LabelCount.source,
            LabelCount.model_version,
            LabelCount.label,
            LabelCount.articles,
        )
    )
    counts: Counter = Counter()
    for day, source, version, label, n in rows:
        key = (day, source, version, label)
        assert key not in counts, f"two rows for {key}"
        counts[key] = n
    return counts


def fill(sessions: sessionmaker[Session], add_model: Any, prediction: Any) -> list[int]:
    """Two model versions (v1 active, v2 beside it) write the batches a worker might:
    new, redelivered, partly new, with a repeat inside one batch."""
    postgresql = sessions.kw["bind"].dialect.name == "postgresql"
    with sessions.begin() as session:
        add_model(session, "v1")
        add_model(session, "v2", activate=False)
    ids = store_articles(sessions, ARTICLES)
    first = labeled(prediction, [ids[0], ids[2], ids[3], ids[4]], "v1", "sport tech business sport")
    with sessions.begin() as session:
        assert insert_predictions(session, first) == 4
    with sessions.begin() as session:  # redelivered: nothing new, nothing counted
        assert insert_predictions(session, first) == 0
    with sessions.begin() as session:  # ids 2-4 are stored, ids 1, 5 and 6 new
        if postgresql:  # 23:30 UTC is the next day in Tokyo: the count's day is UTC's
            session.execute(text("SET LOCAL TIME ZONE 'Asia/Tokyo'"))
        rows = labeled(prediction, ids[1:7], "v1", "sport tech tech sport sport tech")
        assert insert_predictions(session, rows) == 3
    with sessions.begin() as session:
        rows = labeled(prediction, [ids[0], ids[2], ids[2], ids[5]], "v2", "tech tech tech sport")
        assert insert_predictions(session, rows) == 3
    return ids


def test_the_counts_are_the_predictions_joined_to_their_articles(
    sessions: sessionmaker[Session], add_model: Any, prediction: Any
) -> None:
    fill(sessions, add_model, prediction)
    with sessions() as session:
        stored = stored_counts(session)
        assert stored == joined_counts(session)
        assert sum(stored.values()) == 4 + 3 + 3
        assert stored[(DAY1, "bbc", "v1", "sport")] == 2  # 23:30 UTC is still 1 March
        assert stored[(DAY1, None, "v1", "tech")] == 1
        assert stored[(DAY1, "", "v1", "business")] == 1
        assert stored[(DAY2, "cnn", "v1", "sport")] == 1  # 00:30 UTC is 2 March
        assert stored[(DAY2, None, "v1", "tech")] == 1
        assert stored[(DAY1, None, "v2", "tech")] == 1


def readme_examples() -> dict[str, str]:
    """The example queries of README.md's SQL schema section, by their first line (a
    comment), without their comment lines."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sql\n(.*?)```", readme.split("## The SQL schema", 1)[1], re.S)
    assert block is not None
    examples = {}
    for statement in block.group(1).split(";"):
        lines = statement.strip().splitlines()
        if lines:
            examples[lines[0]] = "\n".join(ln for ln in lines if not ln.startswith("--"))
    return examples


def test_the_readme_query_on_the_counts_answers_as_the_view_query(
    sessions: sessionmaker[Session], add_model: Any, prediction: Any
) -> None:
    fill(sessions, add_model, prediction)
    examples = readme_examples()
    counts = examples["-- Label counts per day and source"]
    view = next(sql for first, sql in examples.items() if first.startswith("-- The same counts"))
    assert "label_counts" in counts and "article_labels" in view
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        from_counts = [tuple(r) for r in session.execute(text(counts))]
        from_view = [tuple(r) for r in session.execute(text(view))]
    assert sorted(from_counts, key=repr) == sorted(from_view, key=repr)
    # Both in the printed order (rows that tie on it may come in either order)
    assert [r[:2] + r[3:] for r in from_counts] == [r[:2] + r[3:] for r in from_view]
    assert len(from_counts) == 6


def _lock_waiters(engine: Any) -> int:
    """Sessions of this database waiting for a lock."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def test_two_writers_sharing_count_rows_both_commit(
    pg_url: str, add_model: Any, prediction: Any
) -> None:
    """B holds the count row of day 1 (uncommitted); A writes day 2 then day 1 and waits
    for B, having taken day 1 first whatever its rows' order; B then writes day 2 and
    commits. Had A taken day 2 first, A and B would wait on each other: a deadlock."""
    upgrade(pg_url)
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    try:
        with sessions.begin() as session:
            add_model(session, "v1")
        day1, day2 = ARTICLES[0][1], ARTICLES[5][1]
        a1, a2, b1, b2 = store_articles(
            sessions, [("bbc", day1), ("bbc", day2), ("bbc", day1), ("bbc", day2)]
        )
        errors: list[BaseException] = []
        inserted: list[int] = []

        def writer_a() -> None:
            try:
                with sessions.begin() as session:
                    inserted.append(
                        insert_predictions(
                            session, labeled(prediction, [a2, a1], "v1", "sport sport")
                        )
                    )
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)

        with sessions.begin() as b:
            assert insert_predictions(b, labeled(prediction, [b1], "v1", "sport")) == 1
            a = threading.Thread(target=writer_a)
            a.start()
            deadline = time.monotonic() + 10
            while _lock_waiters(engine) == 0:
                assert a.is_alive() and time.monotonic() < deadline, errors or "A never waited"
                time.sleep(0.05)
            assert insert_predictions(b, labeled(prediction, [b2], "v1", "sport")) == 1
        a.join(timeout=30)
        assert not a.is_alive() and not errors, errors
        assert inserted == [2]
        with sessions() as session:
            assert stored_counts(session) == {
                (DAY1, "bbc", "v1", "sport"): 2,
                (DAY2, "bbc", "v1", "sport"): 2,
            }
    finally:
        engine.dispose()


def test_an_empty_write_counts_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        assert insert_predictions(session, []) == 0
    with sessions() as session:
        assert not stored_counts(session)


def test_a_write_past_sqlites_parameter_limit_counts_every_new_row(
    sessions: sessionmaker[Session], add_model: Any, prediction: Any
) -> None:
    """More rows than SQLite's 32,766 bound parameters: the new ids travel as one."""
    with sessions.begin() as session:
        add_model(session, "v1")
        stored = upsert_articles(
            session, [{"text": f"t{n}", "source": "bulk"} for n in range(33_000)]
        )
        rows = [prediction(i, "v1", PROBS["tech"]) for i, _ in stored]
        assert insert_predictions(session, rows[:1000]) == 1000
        assert insert_predictions(session, rows) == 32_000
    with sessions() as session:
        assert sum(stored_counts(session).values()) == 33_000
        assert stored_counts(session) == joined_counts(session)
