"""Label counts per day, source, model version and label in a table of their own:
``label_counts``, which ``insert_predictions`` keeps exact from now on, so the
README's per-day query reads a few rows instead of joining every article to its
prediction.

The table starts as the aggregation of the predictions already stored, each
joined to its article: ``day`` is the UTC date of ``articles.ingested_at`` (on
PostgreSQL ``ingested_at AT TIME ZONE 'UTC'``, whatever the session's TimeZone;
SQLite stores it as UTC text, and ``date()`` reads it so). A new table only: no
other table changes, so SQLite rebuilds nothing. A downgrade drops it.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

KEY = ("model_version", "day", "coalesce(source, '')", "(source IS NULL)", "label")
"""The unique key: a NULL source counted apart from any other, and from '' (see
``LabelCount`` in the models)."""

UTC_DAY = {
    "postgresql": "(a.ingested_at AT TIME ZONE 'UTC')::date",
    "sqlite": "date(a.ingested_at)",
}
"""The UTC date of an article's ``ingested_at``, per database."""


def upgrade() -> None:
    op.create_table(
        "label_counts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("articles", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_label_counts"),
        sa.ForeignKeyConstraint(
            ["model_version"],
            ["model_versions.version"],
            name="fk_label_counts_model_version_model_versions",
        ),
    )
    op.create_index("uq_label_counts_key", "label_counts", [sa.text(k) for k in KEY], unique=True)
    day = UTC_DAY[op.get_bind().dialect.name]
    op.execute(
        "INSERT INTO label_counts (day, source, model_version, label, articles)"
        f" SELECT {day}, a.source, p.model_version, p.label, count(*)"
        " FROM predictions AS p JOIN articles AS a ON a.id = p.article_id"
        f" GROUP BY {day}, a.source, p.model_version, p.label"
    )


def downgrade() -> None:
    op.drop_table("label_counts")
