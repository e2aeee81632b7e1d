"""Registry, feedback and retraining: model_blobs, model_activations, feedback,
training_runs.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types spelled out here, not imported from the models (see 0001).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDoc = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def _now(name: str) -> sa.Column:
    return sa.Column(name, Timestamp, server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "model_blobs",
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("version", name="pk_model_blobs"),
        sa.ForeignKeyConstraint(
            ["version"],
            ["model_versions.version"],
            name="fk_model_blobs_version_model_versions",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "model_activations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(), nullable=False),
        _now("activated_at"),
        sa.Column("deactivated_at", Timestamp, nullable=True),
        sa.Column("by", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_model_activations"),
        sa.ForeignKeyConstraint(
            ["version"],
            ["model_versions.version"],
            name="fk_model_activations_version_model_versions",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_model_activations_version", "model_activations", ["version"])
    # The version active before this migration starts the history.
    op.execute(
        "INSERT INTO model_activations (version, by, reason)"
        " SELECT version, 'migration', 'active when the registry history began'"
        " FROM model_versions WHERE is_active"
    )

    op.create_table(
        "feedback",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_feedback_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("article_id", name="uq_feedback_article_id"),
    )

    op.create_table(
        "training_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), server_default="running", nullable=False),
        _now("started_at"),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("data_sha256", sa.String(64), nullable=True),
        sa.Column("n_base", sa.Integer(), nullable=True),
        sa.Column("n_feedback", sa.Integer(), nullable=True),
        sa.Column("n_holdout", sa.Integer(), nullable=True),
        sa.Column("challenger_version", sa.String(), nullable=True),
        sa.Column("champion_version", sa.String(), nullable=True),
        sa.Column("metrics", JsonDoc, nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_training_runs"),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'failed', 'skipped')", name="ck_training_runs_status"
        ),
        sa.CheckConstraint(
            "decision IS NULL OR decision IN ('promoted', 'rejected', 'failed')",
            name="ck_training_runs_decision",
        ),
    )
    op.create_index(
        "uq_training_runs_running",
        "training_runs",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    )
    op.create_index("ix_training_runs_request_id", "training_runs", ["request_id"])


def downgrade() -> None:
    op.drop_table("training_runs")
    op.drop_table("feedback")
    op.drop_table("model_activations")
    op.drop_table("model_blobs")
