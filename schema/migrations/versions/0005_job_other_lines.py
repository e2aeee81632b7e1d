"""job_other_lines: the input lines of a job that job_articles does not hold.

A repeat of an article earlier in the same job (its article and the line of
its first sight) and a rejected line (why): with job_articles, every input
line of a job has one row, so ``newsclf results`` exports one row per line.
Jobs enqueued before this revision have no such rows (their repeats and
rejected lines stay absent from their exports).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "job_other_lines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("job_id", BigId, nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("article_id", BigId, nullable=True),
        sa.Column("repeat_of_line", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job_other_lines"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_other_lines_job_id_jobs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_job_other_lines_article_id_articles",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_job_other_lines_job_id_line", "job_other_lines", ["job_id", "line"])


def downgrade() -> None:
    op.drop_index("ix_job_other_lines_job_id_line", table_name="job_other_lines")
    op.drop_table("job_other_lines")
