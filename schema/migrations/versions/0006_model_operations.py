"""Model operations: the shadow version, the version a job waits for, the review
strategy behind a feedback label (and the articles review showed, by strategy),
and the drift checks ``newsclf report`` records.

Every change adds a nullable column (or one with a constant default) or a new
table: ``ALTER TABLE ... ADD COLUMN`` on both databases, so SQLite rebuilds no
table (a rebuild of ``jobs`` would delete ``job_articles`` rows through their
``ON DELETE CASCADE``).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDoc = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "model_versions",
        sa.Column("is_shadow", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_index(
        "uq_model_versions_shadow",
        "model_versions",
        ["is_shadow"],
        unique=True,
        postgresql_where=sa.text("is_shadow"),
        sqlite_where=sa.text("is_shadow"),
    )
    op.add_column("jobs", sa.Column("label_version", sa.String(), nullable=True))
    op.add_column("feedback", sa.Column("strategy", sa.String(16), nullable=True))
    op.create_table(
        "review_picks",
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("picked_at", Timestamp, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("article_id", name="pk_review_picks"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_review_picks_article_id_articles",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "drift_checks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("created_at", Timestamp, server_default=sa.func.now(), nullable=False),
        sa.Column("model_version", sa.String(), nullable=True),
        sa.Column("day", sa.String(10), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("flagged", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("detail", JsonDoc, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_drift_checks"),
    )


def downgrade() -> None:
    op.drop_table("drift_checks")
    op.drop_table("review_picks")
    op.drop_column("feedback", "strategy")
    op.drop_column("jobs", "label_version")
    op.drop_index("uq_model_versions_shadow", table_name="model_versions")
    op.drop_column("model_versions", "is_shadow")
