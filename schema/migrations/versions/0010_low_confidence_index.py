"""``ix_predictions_version_confidence`` becomes ``ix_predictions_low_confidence``:
the same (model_version, confidence) index, but only of the predictions with a
confidence under 0.8 (``models.REVIEW_INDEX_BELOW``). Review and the README's
low-confidence query read only those rows; a full index on a key as random as a
confidence cost every prediction written a write to a random leaf page, which
slowed labeling down as the table outgrew memory. A downgrade builds the full
index again.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BELOW = sa.text("confidence < 0.8")  # frozen here: models.REVIEW_INDEX_BELOW may move on


def upgrade() -> None:
    op.drop_index("ix_predictions_version_confidence", table_name="predictions")
    op.create_index(
        "ix_predictions_low_confidence",
        "predictions",
        ["model_version", "confidence"],
        postgresql_where=BELOW,
        sqlite_where=BELOW,
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_low_confidence", table_name="predictions")
    op.create_index(
        "ix_predictions_version_confidence", "predictions", ["model_version", "confidence"]
    )
