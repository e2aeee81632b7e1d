"""The tables of newsclf as SQLAlchemy 2 typed models.

Alembic owns the schema (``schema/migrations``); these models mirror it and a
test checks that they agree. They work on PostgreSQL and SQLite::

    from newsclf.schema.models import Article, Prediction
    session.scalars(select(Prediction).where(Prediction.confidence < 0.6))

Long because every table is in one module: the migrations' check, the views
and the query modules need the whole metadata at once, and each model is a
short declaration.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names fixed by convention, so migrations can refer to them."""

JOB_STATUSES = ("queued", "enqueuing", "running", "interrupted", "done", "failed")
"""Every value ``jobs.status`` may take. ``enqueuing``: its feed is still being stored,
and only its enqueue may finish it; ``running``: every row is stored, labels are
coming; ``interrupted``: its enqueue stopped before the end of the feed (a signal or
an error), what was stored is labeled and the job stays ``interrupted``;
``done``: every article labeled or failed. ``queued`` is the default of a job
that ``create_job`` makes without saying more (finished like ``running``)."""

BigId = BigInteger().with_variant(Integer, "sqlite")
"""64-bit ids on PostgreSQL; INTEGER on SQLite, which makes them rowid aliases."""

JsonDoc = JSON().with_variant(JSONB(), "postgresql")
"""JSON everywhere, JSONB on PostgreSQL (``->>`` works on both)."""

Timestamp = DateTime(timezone=True)

SOURCE_MAX_CHARS = 500
"""Longest ``articles.source``: it is indexed, and a PostgreSQL B-tree entry must fit
in about 2.7 kB. Longer names are refused, not cut (``articles.upsert_articles``)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Article(Base):
    """One article, stored once whatever feeds it came from (unique content hash)."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    external_id: Mapped[str | None] = mapped_column(String)
    url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(SOURCE_MAX_CHARS), index=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, index=True)
    ingested_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    content_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    failed_reason: Mapped[str | None] = mapped_column(Text)
    """Set when workers gave up on the article."""
    failed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Delivery(Base):
    """How many times an article was delivered to a worker (poison detection). A
    narrow row of its own, written by each claim (migration 0007): counting in
    ``articles`` rewrote the article's whole row, its text and every index entry."""

    __tablename__ = "deliveries"

    article_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    attempts: Mapped[int] = mapped_column(Integer)
    """Deliveries so far; no row: none yet."""


class Job(Base):
    """One enqueue of one or more feeds."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in JOB_STATUSES) + ")", name="status"
        ),
        Index("ix_jobs_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str | None] = mapped_column(String)
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    new: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    duplicate: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    rejected: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    labeled: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    model_version: Mapped[str | None] = mapped_column(String)
    """The version active when the job was enqueued."""
    label_version: Mapped[str | None] = mapped_column(String)
    """The version whose predictions count as this job's progress (a relabel job's);
    None: a prediction by any version does (migration 0006)."""
    report: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    """Rejected rows (line, reason) and notes; capped at ``jobs.REPORT_MAX_ENTRIES``."""
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class JobArticle(Base):
    """Which articles a job holds, and on which input line each was."""

    __tablename__ = "job_articles"

    job_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    line: Mapped[int | None] = mapped_column(Integer)


class JobOtherLine(Base):
    """An input line of a job that ``job_articles`` does not hold: a repeat of an
    article seen earlier in the job (``article_id``, ``repeat_of_line``) or a rejected
    line (``reason``). With ``job_articles``, every input line has one row."""

    __tablename__ = "job_other_lines"
    __table_args__ = (Index("ix_job_other_lines_job_id_line", "job_id", "line"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("jobs.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    article_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("articles.id", ondelete="CASCADE")
    )
    repeat_of_line: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)


class ModelVersion(Base):
    """The model registry: one row per trained artifact; at most one is active."""

    __tablename__ = "model_versions"
    __table_args__ = (
        # At most one active version, enforced by the database.
        Index(
            "uq_model_versions_active",
            "is_active",
            unique=True,
            postgresql_where=sql_text("is_active"),
            sqlite_where=sql_text("is_active"),
        ),
        # At most one shadow version (migration 0006).
        Index(
            "uq_model_versions_shadow",
            "is_shadow",
            unique=True,
            postgresql_where=sql_text("is_shadow"),
            sqlite_where=sql_text("is_shadow"),
        ),
    )

    version: Mapped[str] = mapped_column(String, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    labels: Mapped[list[str]] = mapped_column(JsonDoc)
    """Class names in the model's output order."""
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    config: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    accuracy: Mapped[float | None] = mapped_column(Float)
    data_sha256: Mapped[str | None] = mapped_column(String(64))
    parent_version: Mapped[str | None] = mapped_column(String)
    is_active: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sql_text("false")
    )
    is_shadow: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sql_text("false")
    )
    """Workers also score new articles with this version, under its own name."""
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())


REVIEW_INDEX_BELOW = 0.8
"""Predictions with a confidence under this are indexed by (version, confidence): a
review or query for those under a threshold up to it reads the index in order; one
above it reads the version's predictions (still right, only slower)."""


class Prediction(Base):
    """One model version's label for one article, with every class probability."""

    __tablename__ = "predictions"
    __table_args__ = (
        # Also serves article -> predictions lookups and version disagreement self-joins.
        UniqueConstraint("article_id", "model_version"),
        # Label counts per version (joined to articles for day and source).
        Index("ix_predictions_version_label", "model_version", "label"),
        # Low-confidence review, least sure first (migration 0010): only the rows under
        # REVIEW_INDEX_BELOW are in it, since a full index on a random key (each new
        # confidence lands anywhere) cost every prediction written a random page.
        Index(
            "ix_predictions_low_confidence",
            "model_version",
            "confidence",
            postgresql_where=sql_text(f"confidence < {REVIEW_INDEX_BELOW}"),
            sqlite_where=sql_text(f"confidence < {REVIEW_INDEX_BELOW}"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(BigId, ForeignKey("articles.id", ondelete="CASCADE"))
    model_version: Mapped[str] = mapped_column(String, ForeignKey("model_versions.version"))
    label: Mapped[str] = mapped_column(String)
    confidence: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[dict[str, float]] = mapped_column(JsonDoc)
    """``{label: probability}`` for every class of the model."""
    batch_id: Mapped[str | None] = mapped_column(String)
    """The worker batch that wrote it (logs name it too); not indexed, as no query
    filters on it (migration 0009)."""
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())


LABEL_COUNT_KEY = (
    "model_version",
    "day",
    "coalesce(source, '')",
    "(source IS NULL)",
    "label",
)
"""The unique key of ``label_counts``, as its index and ``ON CONFLICT`` spell it, in the
order ``insert_predictions`` upserts its rows (one order for every writer: no deadlock)."""


class LabelCount(Base):
    """How many articles ingested on ``day`` (UTC) from ``source`` model ``model_version``
    labeled ``label``: a summary of predictions JOIN articles that
    ``predictions.insert_predictions`` keeps exact, in the transaction that writes the
    predictions (migration 0008). Nothing else changes a prediction, nor an article's
    ``source`` or ``ingested_at``, nor deletes either.

    ``source`` is NULL where the articles' is, as in the ``article_labels`` view. A
    unique index on the four columns would not hold those rows together: NULLs are
    distinct in unique indexes (PostgreSQL 15's NULLS NOT DISTINCT is not in SQLite, nor
    in older PostgreSQL). The key (``LABEL_COUNT_KEY``) is therefore a unique index on
    expressions, ``coalesce(source, '')`` and ``(source IS NULL)`` beside the plain
    columns: never NULL, and a NULL source stays apart from an empty one. Both databases
    accept those expressions as an ``ON CONFLICT`` target (PostgreSQL infers the index
    from them, SQLite matches them to it), so one upsert adds to the counts; the
    ``id`` primary key is there because a key with a NULL column cannot be one."""

    __tablename__ = "label_counts"
    __table_args__ = (
        Index("uq_label_counts_key", *(sql_text(k) for k in LABEL_COUNT_KEY), unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(SOURCE_MAX_CHARS))
    model_version: Mapped[str] = mapped_column(String, ForeignKey("model_versions.version"))
    label: Mapped[str] = mapped_column(String)
    articles: Mapped[int] = mapped_column(Integer)


# -- registry, feedback and retraining (migration 0002) ---------------------

TRAINING_RUN_STATUSES = ("running", "done", "failed", "skipped")
"""Every value ``training_runs.status`` may take (``skipped``: another run was in progress)."""

TRAINING_DECISIONS = ("promoted", "rejected", "failed")
"""Every value ``training_runs.decision`` may take (None while running or when skipped)."""


class ModelBlob(Base):
    """The bytes of a version's artifact directory (a deterministic tar), so a
    worker on another machine fetches the model with no shared filesystem."""

    __tablename__ = "model_blobs"

    version: Mapped[str] = mapped_column(
        String, ForeignKey("model_versions.version", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of ``data``, checked by the worker before it unpacks anything."""
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())


class ModelActivation(Base):
    """History of the active version: which one was active when, and who or what
    made it so (a user name, ``retrain-gate``, ``rollback``...)."""

    __tablename__ = "model_activations"
    __table_args__ = (Index("ix_model_activations_version", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(
        String, ForeignKey("model_versions.version", ondelete="CASCADE")
    )
    activated_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    """Set when another version replaced this one (None: still active)."""
    by: Mapped[str] = mapped_column(String)
    reason: Mapped[str | None] = mapped_column(Text)


class Feedback(Base):
    """A human's gold label for an article; one per article, the last one wins."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("articles.id", ondelete="CASCADE"), unique=True
    )
    label: Mapped[str] = mapped_column(String)
    source: Mapped[str] = mapped_column(String(16))
    """How the label came in: ``cli`` (``newsclf label``) or ``csv`` (``label --csv``)."""
    strategy: Mapped[str | None] = mapped_column(String(16))
    """The review strategy that surfaced the article (``newsclf review --strategy``), if any."""
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())


class TrainingRun(Base):
    """One retraining: its data, both models' scores on one held-out set, the decision."""

    __tablename__ = "training_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in TRAINING_RUN_STATUSES) + ")",
            name="status",
        ),
        CheckConstraint(
            "decision IS NULL OR decision IN ("
            + ", ".join(f"'{d}'" for d in TRAINING_DECISIONS)
            + ")",
            name="decision",
        ),
        # At most one run in progress, enforced by the database (works across machines).
        Index(
            "uq_training_runs_running",
            "status",
            unique=True,
            postgresql_where=sql_text("status = 'running'"),
            sqlite_where=sql_text("status = 'running'"),
        ),
        Index("ix_training_runs_request_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    """Set by ``newsclf retrain`` so it can find and wait for the run it asked for."""
    trigger: Mapped[str] = mapped_column(String(16))
    """``beat`` (the schedule) or ``cli`` (``newsclf retrain``, queued or ``--local``)."""
    status: Mapped[str] = mapped_column(String(16), default="running", server_default="running")
    started_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    data_sha256: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the training file the challenger was trained on (base + feedback)."""
    n_base: Mapped[int | None] = mapped_column(Integer)
    n_feedback: Mapped[int | None] = mapped_column(Integer)
    n_holdout: Mapped[int | None] = mapped_column(Integer)
    challenger_version: Mapped[str | None] = mapped_column(String)
    champion_version: Mapped[str | None] = mapped_column(String)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    """``{"challenger": {...}, "champion": {...}, "holdout": {...}}`` on the same held-out set."""
    decision: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)


REVIEW_STRATEGIES = ("confidence", "margin", "entropy", "diverse")
"""How ``newsclf review`` may pick articles (``newsclf.sampling``)."""


class ReviewPick(Base):
    """An article ``newsclf review`` showed, and the strategy that picked it (the last
    one that did): a label given later records that strategy in ``feedback``."""

    __tablename__ = "review_picks"

    article_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    strategy: Mapped[str] = mapped_column(String(16))
    picked_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())


class DriftCheck(Base):
    """One ``newsclf report``'s verdict on its latest day: the drift score and whether
    it passed ``drift_threshold`` (``newsclf status`` shows the newest)."""

    __tablename__ = "drift_checks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    model_version: Mapped[str | None] = mapped_column(String)
    day: Mapped[str | None] = mapped_column(String(10))
    score: Mapped[float | None] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sql_text("false"))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
