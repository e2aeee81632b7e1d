"""Deliveries are counted in their own table: ``deliveries`` (article_id, attempts)
takes over ``articles.attempts``, so a worker's claim writes a narrow row instead
of a new version of the whole article (its text, and on full pages an entry in
every index of ``articles``).

The non-zero counts move to ``deliveries`` and the column is dropped with
``ALTER TABLE ... DROP COLUMN`` on both databases (SQLite 3.35 and later): on
SQLite a batch migration would rebuild ``articles``, and dropping the old table
deletes every row that refers to it through ``ON DELETE CASCADE`` (see 0004).
A downgrade adds the column back (a constant default: no rebuild) and restores
the counts.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("article_id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_deliveries_article_id_articles",
            ondelete="CASCADE",
        ),
    )
    op.execute(
        "INSERT INTO deliveries (article_id, attempts)"
        " SELECT id, attempts FROM articles WHERE attempts > 0"
    )
    op.drop_column("articles", "attempts")


def downgrade() -> None:
    op.add_column(
        "articles",
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        "UPDATE articles SET attempts ="
        " (SELECT d.attempts FROM deliveries AS d WHERE d.article_id = articles.id)"
        " WHERE id IN (SELECT article_id FROM deliveries)"
    )
    op.drop_table("deliveries")
