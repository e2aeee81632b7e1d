"""``ix_predictions_batch_id`` goes: no query filters or joins predictions on
``batch_id`` (the column stays, for logs and by-hand debugging), so the index
only cost each prediction written an entry. A downgrade builds it again.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_predictions_batch_id", table_name="predictions")


def downgrade() -> None:
    op.create_index("ix_predictions_batch_id", "predictions", ["batch_id"])
