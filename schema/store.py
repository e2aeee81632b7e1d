"""Reading and writing the newsclf tables: plain functions taking ``session=``.

Writes are bulk and idempotent (``INSERT ... ON CONFLICT DO NOTHING`` on
PostgreSQL and SQLite), so a redelivered task or a re-enqueued feed changes
nothing. Every value travels as a bound parameter::

    with sessions.begin() as session:
        ids = upsert_articles(session, [{"text": "...", "source": "bbc"}])
        job = create_job(session, source="bbc", model_version="v1")
        add_job_articles(session, job.id, [(article_id, 2) for article_id, _ in ids])
        insert_predictions(session, [{"article_id": 1, "model_version": "v1", ...}])
        finish_jobs_if_done(session, [job.id])
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    JSON,
    CursorResult,
    Result,
    Text,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from newsclf.schema.models import (
    SOURCE_MAX_CHARS,
    Article,
    Feedback,
    Job,
    JobArticle,
    JobOtherLine,
    ModelActivation,
    ModelBlob,
    ModelVersion,
    Prediction,
)
from newsclf.schema.views import refresh_article_labels_view

ARTICLE_CHUNK = 1000
"""Articles per INSERT statement (and per SELECT of those already stored)."""

REPORT_MAX_ENTRIES = 1000
"""Most rejected rows and most notes kept in a job's report."""

ARTICLE_FIELDS = (
    "external_id", "url", "title", "text", "source", "published_at", "content_sha256",
)  # fmt: skip
"""Keys ``upsert_articles`` accepts."""

PREDICTION_FIELDS = (
    "article_id", "model_version", "label", "confidence", "probabilities", "batch_id",
)  # fmt: skip
"""Keys ``insert_predictions`` accepts."""


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


def _insert_new(
    session: Session,
    model: type[Any],
    rows: list[dict[str, Any]],
    *,
    conflict: Sequence[str],
    returning: Sequence[Any] = (),
) -> Result[Any]:
    """INSERT ``rows`` (same keys each), skipping those that clash on ``conflict``.

    PostgreSQL: one ``INSERT ... SELECT FROM unnest(one array per column)``
    (a JSON column: one JSON array document), a short statement whatever the row
    count, which psycopg parses once and prepares. SQLite: a multi-row INSERT per
    ``insertmanyvalues_page_size`` rows, compiled once and cached. Every value is a bound parameter either way."""
    table = model.__table__
    dialect = session.get_bind().dialect
    name = dialect.name
    stmt: Any
    params: Any
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        columns = list(rows[0])
        # A JSON column travels as one JSON array document for all rows (one
        # json.dumps in C, one parse in PostgreSQL), its elements joined to the
        # other columns' unnested arrays by position.
        docs = [c for c in columns if isinstance(table.c[c].type.dialect_impl(dialect), JSON)]
        plain = [c for c in columns if c not in docs]
        arrays = [bindparam(f"a_{c}", type_=postgresql.ARRAY(table.c[c].type)) for c in plain]
        unnested = func.unnest(*arrays).table_valued(*plain, with_ordinality="n").render_derived()
        values: dict[str, Any] = {c: unnested.c[c] for c in plain}
        joined: Any = unnested
        for c in docs:
            document = sql_cast(bindparam(f"d_{c}", type_=Text), postgresql.JSONB)
            elements = (
                func.jsonb_array_elements(document)
                .table_valued("value", with_ordinality="n")
                .render_derived()
            )
            joined = joined.join(elements, elements.c.n == unnested.c.n)
            values[c] = func.nullif(elements.c.value, literal_column("'null'::jsonb"))
        source = select(*(values[c] for c in columns)).select_from(joined)
        stmt = postgresql.insert(table).from_select(columns, source)
        params = {f"a_{c}": [row[c] for row in rows] for c in plain}
        params.update({f"d_{c}": json.dumps([row[c] for row in rows]) for c in docs})
    elif name == "sqlite":
        from sqlalchemy.dialects import sqlite

        stmt, params = sqlite.insert(table), rows
    else:  # pragma: no cover
        raise NotImplementedError(f"unsupported database {name!r}: use PostgreSQL or SQLite")
    stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    return session.execute(stmt.returning(*returning) if returning else stmt, params)


def one_of(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """``column IN values``; on PostgreSQL ``= ANY(array)``: one parameter however many
    values, so the statement's text is the same for every call (parsed and prepared once)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def _rows(rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    """Rows with exactly ``fields`` as keys (missing: None), so one VALUES list fits all."""
    out = []
    for row in rows:
        unknown = set(row) - set(fields)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)}; expected some of {list(fields)}")
        out.append({f: row.get(f) for f in fields})
    return out


def upsert_articles(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, bool]]:
    """Store articles once each; ``(article_id, is_new)`` per input row, in order.

    ``source`` may hold at most ``SOURCE_MAX_CHARS`` characters (ValueError).
    A row whose text is already stored (same ``content_sha256``, computed here
    when missing), in the table or earlier in ``rows``, is not new. Two
    statements per ``ARTICLE_CHUNK`` rows: an insert that skips conflicts and
    returns the new ids, and a select of the ids that were already there.
    """
    rows = _rows(rows, ARTICLE_FIELDS)
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
            inserted = _insert_new(
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


def create_job(
    session: Session,
    *,
    source: str | None,
    model_version: str | None = None,
    status: str = "queued",
    label_version: str | None = None,
) -> Job:
    """A new job (flushed, so its id is known); ``enqueuing`` while its feed is stored;
    ``label_version``: only that version's predictions count as its progress (see
    ``job_progress``)."""
    job = Job(
        source=source, model_version=model_version, label_version=label_version, status=status
    )
    session.add(job)
    session.flush()
    return job


def set_job_counts(
    session: Session, job_id: int, *, new: int, duplicate: int, rejected: int
) -> None:
    """A job's row counts so far (``total`` is their sum): written in the transaction
    that stores the rows they count, so what a job shows is always what is stored."""
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(total=new + duplicate + rejected, new=new, duplicate=duplicate, rejected=rejected)
        .execution_options(synchronize_session=False)
    )


def job_is_open() -> ColumnElement[bool]:
    """Jobs whose labeling is not over: ``queued`` and ``running`` ones, and
    ``interrupted`` ones not yet seen with nothing pending. Not ``enqueuing`` ones:
    only their enqueue finishes them, once every row is stored."""
    return or_(
        Job.status.in_(("queued", "running")),
        and_(Job.status == "interrupted", Job.finished_at.is_(None)),
    )


def add_job_articles(
    session: Session, job_id: int, pairs: Sequence[tuple[int, int | None]]
) -> set[int]:
    """Attach ``(article_id, line)`` pairs to a job; pairs already there are kept as they
    are. Returns the ids of the articles that were not in the job before."""
    if not pairs:
        return set()
    seen: dict[int, int | None] = {}
    for article_id, line in pairs:
        seen.setdefault(article_id, line)  # a feed may repeat an article: keep its first line
    values = [{"job_id": job_id, "article_id": a, "line": line} for a, line in seen.items()]
    inserted = _insert_new(
        session,
        JobArticle,
        values,
        conflict=["job_id", "article_id"],
        returning=[JobArticle.article_id],
    )
    return set(inserted.scalars())


OTHER_LINE_REASON_CHARS = 500
"""Longest rejection reason kept in ``job_other_lines``."""


def add_job_other_lines(
    session: Session,
    job_id: int,
    pairs: Sequence[tuple[int, int]],
    attached: set[int],
    rejected: Sequence[tuple[int, str]] = (),
) -> int:
    """Record the input lines ``job_articles`` does not hold: of ``pairs``
    (``(article_id, line)``, as given to ``add_job_articles``, which returned
    ``attached``), every line after an article's first sight in the job, with the
    line of that first sight; and each ``(line, reason)`` of ``rejected``.
    Returns the rows written."""
    first: dict[int, int] = {}
    repeats: list[tuple[int, int]] = []
    for article_id, line in pairs:
        if article_id in attached and article_id not in first:
            first[article_id] = line
        else:
            repeats.append((article_id, line))
    earlier = list({a for a, _ in repeats if a not in first})
    if earlier:
        query = select(JobArticle.article_id, JobArticle.line).where(
            JobArticle.job_id == job_id, one_of(session, JobArticle.article_id, earlier)
        )
        first.update({a: line for a, line in session.execute(query)})
    values = [
        {"job_id": job_id, "line": line, "article_id": a, "repeat_of_line": first.get(a),
         "reason": None}
        for a, line in repeats
    ] + [
        {"job_id": job_id, "line": line, "article_id": None, "repeat_of_line": None,
         "reason": reason[:OTHER_LINE_REASON_CHARS]}
        for line, reason in rejected
    ]  # fmt: skip
    if values:
        session.execute(insert(JobOtherLine), values)
    return len(values)


def insert_predictions(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Store predictions in one INSERT statement; rows whose (article, model version)
    is already there are skipped. Returns how many were new."""
    values = _rows(rows, PREDICTION_FIELDS)
    if not values:
        return 0
    inserted = _insert_new(
        session,
        Prediction,
        values,
        conflict=["article_id", "model_version"],
        returning=[Prediction.id],
    )
    return len(inserted.all())


@dataclass(frozen=True)
class Progress:
    """Where a job stands, counted from its articles."""

    job_id: int
    total: int
    labeled: int
    """Articles with a prediction: by the job's ``label_version`` when it has one (a
    relabel job), else by any model version."""
    failed: int
    """Articles given up on (``failed_reason`` set) and not labeled."""

    @property
    def pending(self) -> int:
        return self.total - self.labeled - self.failed


def job_article_labeled() -> Any:
    """SQL: a job's article (``JobArticle`` joined to ``Job``) has the prediction the job
    waits for: by the job's ``label_version`` if set, else by any version."""
    return exists().where(
        Prediction.article_id == JobArticle.article_id,
        or_(Job.label_version.is_(None), Prediction.model_version == Job.label_version),
    )


def job_progress(session: Session, job_ids: Sequence[int]) -> dict[int, Progress]:
    """Progress of each job in ``job_ids`` (a job with no articles: all zeros).

    One aggregate query: the job_articles primary key finds a job's articles, the
    (article_id, model_version) unique index answers "has a prediction" and the
    articles primary key "has failed", each a lookup per article of these jobs (no
    join the planner could turn into a scan of a whole table)."""
    ids = list(dict.fromkeys(job_ids))
    progress = {job_id: Progress(job_id, 0, 0, 0) for job_id in ids}
    if not ids:
        return progress
    labeled = job_article_labeled()
    failed = exists().where(
        Article.id == JobArticle.article_id, Article.failed_reason.is_not(None)
    )
    query = (
        select(
            JobArticle.job_id,
            func.count(),
            func.sum(case((labeled, 1), else_=0)),
            func.sum(case((and_(~labeled, failed), 1), else_=0)),
        )
        .join(Job, Job.id == JobArticle.job_id)  # its label_version, by primary key
        .where(JobArticle.job_id.in_(ids))
        .group_by(JobArticle.job_id)
    )
    for job_id, total, n_labeled, n_failed in session.execute(query):
        progress[job_id] = Progress(job_id, int(total), int(n_labeled or 0), int(n_failed or 0))
    return progress


def finish_jobs_if_done(session: Session, job_ids: Sequence[int]) -> list[int]:
    """Finish each open job of ``job_ids`` (``job_is_open``) that has nothing pending:
    labeled/failed counts and finished_at set, status ``done``; an ``interrupted``
    job keeps its status, so that it stays visible that it holds part of its feed.
    Returns the ids finished by this call: a job is finished once, even when
    several workers race to finish it."""
    finished = []
    for job_id, p in job_progress(session, job_ids).items():
        if p.pending:
            continue
        stmt = (
            update(Job)
            .where(Job.id == job_id, job_is_open())
            .values(
                status=case((Job.status == "interrupted", "interrupted"), else_="done"),
                labeled=p.labeled,
                failed=p.failed,
                finished_at=func.now(),
            )
            .execution_options(synchronize_session="fetch")
        )
        if cast(CursorResult[Any], session.execute(stmt)).rowcount:
            finished.append(job_id)
    return finished


def make_job_report(rejected: Iterable[Mapping[str, Any]], notes: Iterable[str]) -> dict[str, Any]:
    """A job's ``report``: at most ``REPORT_MAX_ENTRIES`` rejected rows and notes,
    with how many more there were."""
    report: dict[str, Any] = {"rejected": [], "notes": []}
    report.update(rejected_omitted=0, notes_omitted=0)
    for row in rejected:
        if len(report["rejected"]) < REPORT_MAX_ENTRIES:
            report["rejected"].append(dict(row))
        else:
            report["rejected_omitted"] += 1
    for note in notes:
        if len(report["notes"]) < REPORT_MAX_ENTRIES:
            report["notes"].append(str(note))
        else:
            report["notes_omitted"] += 1
    return report


def register_model_version(
    session: Session,
    *,
    version: str,
    sha256: str,
    path: str,
    labels: Sequence[str],
    metrics: Mapping[str, Any] | None,
    config: Mapping[str, Any] | None,
    accuracy: float | None,
    data_sha256: str | None,
    parent_version: str | None = None,
    activate: bool = True,
    by: str = "system",
) -> ModelVersion:
    """Record a trained artifact in the registry; when ``activate``, make it the
    only active version (recorded as activated ``by``) and rebuild the
    ``article_labels`` view for its labels."""
    model = ModelVersion(
        version=version,
        sha256=sha256,
        path=str(path),
        labels=list(labels),
        metrics=dict(metrics) if metrics is not None else None,
        config=dict(config) if config is not None else None,
        accuracy=accuracy,
        data_sha256=data_sha256,
        parent_version=parent_version,
        is_active=False,
    )
    session.add(model)
    session.flush()
    if activate:
        activate_model_version(session, version, by=by, reason="registered")
    return model


def activate_model_version(
    session: Session, version: str, *, by: str = "system", reason: str | None = None
) -> ModelVersion:
    """Make ``version`` the only active model and rebuild the view for its labels;
    the change is recorded in ``model_activations`` (who: ``by``, why: ``reason``)."""
    model = session.get(ModelVersion, version)
    if model is None:
        raise LookupError(f"no model version {version!r}")
    if not model.is_active:
        record_activation(session, version, by=by, reason=reason)
    # Deactivate first: a partial unique index allows one active row at a time.
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.is_active.is_(True), ModelVersion.version != version)
        .values(is_active=False)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    model.is_active = True
    session.flush()
    refresh_article_labels_view(session.connection(), model.labels)
    return model


def active_model_version(session: Session) -> ModelVersion | None:
    """The active model version, if any."""
    return session.scalars(select(ModelVersion).where(ModelVersion.is_active.is_(True))).first()


# -- registry history, artifact blobs, feedback (migration 0002) -------------


def record_activation(
    session: Session, version: str, *, by: str, reason: str | None = None
) -> ModelActivation:
    """Close the open history row (if any) and open one for ``version``."""
    now = func.now()
    session.execute(
        update(ModelActivation)
        .where(ModelActivation.deactivated_at.is_(None))
        .values(deactivated_at=now)
        .execution_options(synchronize_session=False)
    )
    row = ModelActivation(version=version, by=by or "unknown", reason=reason)
    session.add(row)
    session.flush()
    return row


def activation_history(session: Session, limit: int | None = None) -> list[ModelActivation]:
    """Activations, newest first (ordered by id: timestamps can tie within a transaction)."""
    query = select(ModelActivation).order_by(ModelActivation.id.desc())
    return list(session.scalars(query.limit(limit) if limit else query))


def previous_active_version(session: Session) -> str | None:
    """The version that was active before the current one, per the history."""
    rows = activation_history(session)
    if not rows:
        return None
    current = rows[0].version
    return next((r.version for r in rows[1:] if r.version != current), None)


def store_model_blob(session: Session, version: str, data: bytes) -> ModelBlob:
    """Store (or replace) the artifact bytes of ``version`` with their sha256."""
    blob = session.get(ModelBlob, version) or ModelBlob(version=version)
    blob.sha256 = hashlib.sha256(data).hexdigest()
    blob.size = len(data)
    blob.data = data
    session.add(blob)
    session.flush()
    return blob


def model_blob_sha256(session: Session, version: str) -> str | None:
    """The stored blob's recorded sha256 (without reading its bytes); None: no blob."""
    return session.scalar(select(ModelBlob.sha256).where(ModelBlob.version == version))


def upsert_feedback(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Store gold labels (``article_id``, ``label``, ``source``, optional ``strategy``:
    the review strategy that surfaced the article); one per article, the last one
    wins (in ``rows`` and against what is stored). Returns the rows written."""
    last: dict[int, dict[str, Any]] = {}
    for row in rows:
        article_id = int(row["article_id"])
        last[article_id] = {
            "article_id": article_id,
            "label": row["label"],
            "source": row["source"],
            "strategy": row.get("strategy"),
        }
    if not last:
        return 0
    name = session.get_bind().dialect.name
    insert: Any
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(Feedback)
    stmt = stmt.on_conflict_do_update(
        index_elements=["article_id"],
        set_={
            "label": stmt.excluded.label,
            "source": stmt.excluded.source,
            "strategy": stmt.excluded.strategy,
            "created_at": func.now(),
        },
    )
    session.execute(stmt, list(last.values()))
    return len(last)


def feedback_examples(session: Session) -> list[tuple[int, str, str]]:
    """Every gold label as ``(article_id, article text, label)``, by article id."""
    query = (
        select(Feedback.article_id, Article.text, Feedback.label)
        .join(Article, Article.id == Feedback.article_id)
        .order_by(Feedback.article_id)
    )
    return [(int(a), str(t), str(label)) for a, t, label in session.execute(query)]
