"""The claim counts deliveries in the narrow ``deliveries`` table: the article's
row (its text, its indexes) is not rewritten, on PostgreSQL or SQLite; the
claim still returns ``(id, text, attempts)`` by id and the spent ids, and two
claims of the same ids at once each count a delivery."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from newsclf.schema.articles import claim_articles, count_deliveries, upsert_articles
from newsclf.schema.models import Article, Delivery


def stored(sessions: sessionmaker[Session], n: int) -> list[int]:
    with sessions.begin() as session:
        rows = [{"text": f"article number {i}", "source": "test"} for i in range(n)]
        return [article_id for article_id, _ in upsert_articles(session, rows)]


def deliveries(sessions: sessionmaker[Session]) -> dict[int, int]:
    with sessions() as session:
        return {a: n for a, n in session.execute(select(Delivery.article_id, Delivery.attempts))}


def test_a_claim_writes_no_article_row(engine: Engine, sessions: sessionmaker[Session]) -> None:
    ids = stored(sessions, 3)
    postgres = engine.dialect.name == "postgresql"
    versions = text("SELECT id, xmin::text, ctid::text FROM articles ORDER BY id")
    if postgres:
        with engine.connect() as conn:
            before = conn.execute(versions).all()
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with sessions.begin() as session:
            claimed, spent = claim_articles(session, ids, version="v1", max_attempts=3)
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert claimed == [(i, f"article number {n}", 1) for n, i in enumerate(ids)]
    assert spent == []
    assert not [s for s in statements if s.startswith("update articles")], statements
    assert deliveries(sessions) == {i: 1 for i in ids}
    if postgres:
        with engine.connect() as conn:
            assert conn.execute(versions).all() == before


def test_claims_count_up_to_max_attempts_then_the_ids_are_spent(
    sessions: sessionmaker[Session], add_model: Any, prediction: Any
) -> None:
    ids = stored(sessions, 4)
    with sessions.begin() as session:
        add_model(session, "v1")
        from newsclf.schema.predictions import insert_predictions

        insert_predictions(session, [prediction(ids[0], "v1", {"business": 1.0})])
        session.execute(Article.__table__.update().where(Article.id == ids[1]).values(
            failed_reason="bad"))  # fmt: skip

    live = ids[2:]
    for attempt in (1, 2):
        with sessions.begin() as session:
            claimed, spent = claim_articles(session, ids, version="v1", max_attempts=2)
        assert [(i, n) for i, _, n in claimed] == [(i, attempt) for i in live] and spent == []
    with sessions.begin() as session:
        claimed, spent = claim_articles(session, ids, version="v1", max_attempts=2)
    assert claimed == [] and sorted(spent) == live
    assert deliveries(sessions) == {i: 2 for i in live}

    with sessions.begin() as session:
        count_deliveries(session, [live[0]], -1)
    with sessions.begin() as session:
        claimed, spent = claim_articles(session, ids, version="v1", max_attempts=2)
    assert [(i, n) for i, _, n in claimed] == [(live[0], 2)] and spent == [live[1]]


def test_deleting_an_article_deletes_its_deliveries(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    ids = stored(sessions, 2)
    with sessions.begin() as session:
        claim_articles(session, ids, version="v1", max_attempts=3)
    with sessions.begin() as session:
        session.execute(Article.__table__.delete().where(Article.id == ids[0]))
    assert deliveries(sessions) == {ids[1]: 1}


def test_two_claims_of_the_same_ids_at_once_each_count_one_delivery(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    if engine.dialect.name != "postgresql":
        return  # SQLite: one writer at a time, the second claim waits at BEGIN
    ids = stored(sessions, 5)
    first = sessions()
    first.begin()
    mine, _ = claim_articles(first, ids, version="v1", max_attempts=2)
    theirs: list[Any] = []

    def other() -> None:
        with sessions.begin() as session:
            theirs.append(claim_articles(session, ids, version="v1", max_attempts=2))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive()  # waits on the first claim's rows
    first.commit()
    first.close()
    thread.join(10)
    assert [n for _, _, n in mine] == [1] * 5
    assert [n for _, _, n in theirs[0][0]] == [2] * 5 and theirs[0][1] == []
    with sessions.begin() as session:
        assert claim_articles(session, ids, version="v1", max_attempts=2) == ([], ids)
