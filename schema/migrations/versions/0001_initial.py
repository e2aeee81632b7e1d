"""Initial schema: articles, jobs, job_articles, model_versions, predictions,
and the article_labels view (no p_ columns until a model is activated).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from newsclf.schema.views import VIEW_NAME, refresh_article_labels_view

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types spelled out here, not imported from the models: a migration must keep
# meaning what it meant when written, whatever the models become.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDoc = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def _zero(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("external_id", sa.String(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("published_at", Timestamp, nullable=True),
        sa.Column("ingested_at", Timestamp, server_default=sa.func.now(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        _zero("attempts"),
        sa.Column("failed_reason", sa.Text(), nullable=True),
        sa.Column("failed_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.UniqueConstraint("content_sha256", name="uq_articles_content_sha256"),
    )
    op.create_index("ix_articles_source", "articles", ["source"])
    op.create_index("ix_articles_published_at", "articles", ["published_at"])

    op.create_table(
        "jobs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("status", sa.String(16), server_default="queued", nullable=False),
        _zero("total"),
        _zero("new"),
        _zero("duplicate"),
        _zero("rejected"),
        _zero("labeled"),
        _zero("failed"),
        sa.Column("model_version", sa.String(), nullable=True),
        sa.Column("report", JsonDoc, nullable=True),
        sa.Column("created_at", Timestamp, server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="ck_jobs_status"
        ),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])

    op.create_table(
        "job_articles",
        sa.Column("job_id", BigId, nullable=False),
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "article_id", name="pk_job_articles"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_articles_job_id_jobs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_job_articles_article_id_articles",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_job_articles_article_id", "job_articles", ["article_id"])

    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("labels", JsonDoc, nullable=False),
        sa.Column("metrics", JsonDoc, nullable=True),
        sa.Column("config", JsonDoc, nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("data_sha256", sa.String(64), nullable=True),
        sa.Column("parent_version", sa.String(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", Timestamp, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_model_versions"),
    )
    op.create_index(
        "uq_model_versions_active",
        "model_versions",
        ["is_active"],
        unique=True,
        postgresql_where=sa.text("is_active"),
        sqlite_where=sa.text("is_active"),
    )

    op.create_table(
        "predictions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("probabilities", JsonDoc, nullable=False),
        sa.Column("batch_id", sa.String(), nullable=True),
        sa.Column("created_at", Timestamp, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_predictions"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_predictions_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version"],
            ["model_versions.version"],
            name="fk_predictions_model_version_model_versions",
        ),
        sa.UniqueConstraint(
            "article_id", "model_version", name="uq_predictions_article_id_model_version"
        ),
    )
    op.create_index("ix_predictions_version_label", "predictions", ["model_version", "label"])
    op.create_index(
        "ix_predictions_version_confidence", "predictions", ["model_version", "confidence"]
    )
    op.create_index("ix_predictions_batch_id", "predictions", ["batch_id"])

    refresh_article_labels_view(op.get_bind(), [])


def downgrade() -> None:
    op.execute(f"DROP VIEW IF EXISTS {VIEW_NAME}")
    op.drop_table("predictions")
    op.drop_table("model_versions")
    op.drop_table("job_articles")
    op.drop_table("jobs")
    op.drop_table("articles")
