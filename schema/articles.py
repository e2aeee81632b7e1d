"""Articles: stored once each, keyed by the sha256 of their normalized text, and
the filters that pick them again. Plain functions taking ``session``::

    with sessions.begin() as session:
        ids = upsert_articles(session, [{"text": "...", "source": "bbc"}])  # (id, is_new)
        todo = matching_articles(session, version="v1", since=None, source="bbc")
        live, spent = claim_articles(session, [17, 18], version="v1", max_attempts=3)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from newsclf.schema.bulk import dialect_insert, exact_rows, insert_new, one_of
from newsclf.schema.models import (
    SOURCE_MAX_CHARS,
    Article,
    Delivery,
)
from newsclf.schema.predictions import has_prediction


def needs_label(version: str) -> ColumnElement[bool]:
    """An article (``Article`` in the enclosing query) still to label by model
    ``version``: it has not failed and has no prediction by that version."""
    return and_(Article.failed_reason.is_(None), ~has_prediction(Article.id, version))


def articles_needing_label(session: Session, ids: Sequence[int], version: str) -> list[int]:
    """Of ``ids``, those that ``needs_label(version)``, by id."""
    if not ids:
        return []
    query = select(Article.id).where(one_of(session, Article.id, ids), needs_label(version))
    return list(session.scalars(query.order_by(Article.id)))


def claim_articles(
    session: Session, ids: Sequence[int], *, version: str, max_attempts: int
) -> tuple[list[tuple[int, str, int]], list[int]]:
    """Claim the articles of ``ids`` that ``needs_label(version)``: count one more
    delivery of each that has had fewer than ``max_attempts``. Returns the claimed
    ``(id, text, attempts)``, by id, and the ids of those out of deliveries (spent).

    One ``INSERT INTO deliveries ... SELECT ... ON CONFLICT DO UPDATE ... RETURNING``
    counts the deliveries; no article row is written. On PostgreSQL it is a CTE of
    the statement that reads the texts; SQLite reads them with a second SELECT.
    The rows are counted in id order, so two workers claiming the same ids lock
    them in the same order; the second waits for the first and counts one more.
    Only when some were not claimed does another query look for spent ones."""
    needed = (one_of(session, Article.id, ids), needs_label(version))
    delivered = Article.id == Delivery.article_id
    fresh = (
        select(Article.id, literal(1, Integer))
        .outerjoin(Delivery, delivered)
        .where(*needed, func.coalesce(Delivery.attempts, 0) < max_attempts)
        .order_by(Article.id)
    )
    count = (
        dialect_insert(session, Delivery)
        .from_select([Delivery.article_id, Delivery.attempts], fresh)
        .on_conflict_do_update(
            index_elements=[Delivery.article_id],
            set_={"attempts": Delivery.attempts + 1},
            where=Delivery.attempts < max_attempts,  # counted meanwhile by another claim
        )
        .returning(Delivery.article_id, Delivery.attempts)
    )
    live: list[tuple[int, str, int]]
    if session.get_bind().dialect.name == "postgresql":
        counted = count.cte("counted")
        query = select(counted.c.article_id, Article.text, counted.c.attempts).join(
            Article, Article.id == counted.c.article_id
        )
        live = [(int(i), str(t), int(n)) for i, t, n in session.execute(query)]
    else:
        attempts = {int(i): int(n) for i, n in session.execute(count)}
        texts = select(Article.id, Article.text).where(one_of(session, Article.id, list(attempts)))
        live = [(int(i), str(t), attempts[int(i)]) for i, t in session.execute(texts)]
    spent: list[int] = []
    if len(live) < len(ids):
        spent = list(
            session.scalars(
                # Not those just claimed: the INSERT above raised their attempts.
                select(Article.id)
                .join(Delivery, delivered)
                .where(
                    *needed,
                    Delivery.attempts >= max_attempts,
                    ~one_of(session, Article.id, [i for i, _, _ in live]),
                )
            )
        )
    return sorted(live), spent


def count_deliveries(session: Session, ids: Sequence[int], by: int = 1) -> None:
    """Add ``by`` (negative: take back) to the delivery count of the articles ``ids``,
    claimed before (their ``deliveries`` rows exist)."""
    session.execute(
        update(Delivery)
        .where(one_of(session, Delivery.article_id, ids))
        .values(attempts=Delivery.attempts + by)
    )


def mark_articles_failed(session: Session, ids: Sequence[int], reason: str) -> None:
    """Give up on the articles ``ids``: ``failed_reason`` and ``failed_at`` (now) set."""
    session.execute(
        update(Article)
        .where(one_of(session, Article.id, list(ids)))
        .values(failed_reason=reason, failed_at=dt.datetime.now(dt.UTC))
    )


def matching_articles(
    session: Session, *, version: str, since: dt.datetime | None, source: str | None
) -> list[tuple[int, bool]]:
    """``(article_id, needs_label)`` of every live (not failed) article published (or,
    lacking a date, stored) since ``since`` and from ``source``, by id; ``needs_label``:
    model ``version`` has no prediction for it yet."""
    query = select(Article.id, ~has_prediction(Article.id, version)).where(
        Article.failed_reason.is_(None)
    )
    if since is not None:
        if session.get_bind().dialect.name == "sqlite":  # stored as naive UTC text
            since = since.astimezone(dt.UTC).replace(tzinfo=None)
        query = query.where(func.coalesce(Article.published_at, Article.ingested_at) >= since)
    if source is not None:
        query = query.where(Article.source == source)
    return [(int(i), bool(todo)) for i, todo in session.execute(query.order_by(Article.id))]


ARTICLE_CHUNK = 1000
"""Articles per INSERT statement (and per SELECT of those already stored)."""


ARTICLE_FIELDS = (
    "external_id", "url", "title", "text", "source", "published_at", "content_sha256",
)  # fmt: skip
"""Keys ``upsert_articles`` accepts."""


def content_sha256(text: str) -> str:
    """The dedup key of an article: SHA-256 (hex) of its text, NFC-normalized, with
    every run of whitespace made one space and the ends stripped, in UTF-8. Case and
    punctuation count: only layout differences make two texts the same article."""
    normalized = unicodedata.normalize("NFC", text)
    if not _is_collapsed(normalized):
        normalized = " ".join(normalized.split())
    return hashlib.sha256(normalized.encode("utf-8", "surrogatepass")).hexdigest()


def _is_collapsed(text: str) -> bool:
    """True when ``" ".join(text.split())`` would return ``text``: no whitespace but
    single ASCII spaces between words (every other whitespace character is a
    Unicode separator or control, which ``isprintable`` rejects). A fast path for
    texts the feed readers already normalised."""
    return text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " "


def upsert_articles(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, bool]]:
    """Store articles once each; ``(article_id, is_new)`` per input row, in order.

    ``source`` may hold at most ``SOURCE_MAX_CHARS`` characters (ValueError).
    A row whose text is already stored (same ``content_sha256``, computed here
    when missing), in the table or earlier in ``rows``, is not new. Two
    statements per ``ARTICLE_CHUNK`` rows: an insert that skips conflicts and
    returns the new ids, and a select of the ids that were already there.
    """
    rows = exact_rows(rows, ARTICLE_FIELDS)
    for row in rows:
        if row["source"] is not None and len(row["source"]) > SOURCE_MAX_CHARS:
            raise ValueError(f"article source longer than {SOURCE_MAX_CHARS} characters")
        if row["content_sha256"] is None:
            row["content_sha256"] = content_sha256(row["text"])
    ids: dict[str, int] = {}
    result: list[tuple[int, bool]] = []
    for start in range(0, len(rows), ARTICLE_CHUNK):
        chunk = rows[start : start + ARTICLE_CHUNK]
        fresh: dict[str, dict[str, Any]] = {}
        for row in chunk:
            if row["content_sha256"] not in ids:
                fresh.setdefault(row["content_sha256"], row)
        new: set[str] = set()
        if fresh:
            inserted = insert_new(
                session,
                Article,
                list(fresh.values()),
                conflict=["content_sha256"],
                returning=[Article.id, Article.content_sha256],
            )
            for stored in inserted:
                ids[stored.content_sha256] = stored.id
                new.add(stored.content_sha256)
        missing = [sha for sha in fresh if sha not in new]
        if missing:
            query = select(Article.content_sha256, Article.id).where(
                one_of(session, Article.content_sha256, missing)
            )
            ids.update({sha: article_id for sha, article_id in session.execute(query)})
        for row in chunk:
            sha = row["content_sha256"]
            is_new = sha in new
            new.discard(sha)  # a repeat later in the input is a duplicate
            result.append((ids[sha], is_new))
    return result


def stored_article_ids(session: Session, ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` are stored articles (``ARTICLE_CHUNK`` ids per query)."""
    wanted = sorted(set(ids))
    found: set[int] = set()
    for start in range(0, len(wanted), ARTICLE_CHUNK):
        chunk = wanted[start : start + ARTICLE_CHUNK]
        found.update(session.scalars(select(Article.id).where(one_of(session, Article.id, chunk))))
    return found
