"""Article texts compressed with lz4 instead of pglz on PostgreSQL 14 and newer.

lz4 compresses and decompresses several times faster than pglz for a little more
space. Rows already stored keep pglz until
they are rewritten. A server built without lz4, an older server and SQLite keep
what they have.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if int(bind.execute(sa.text("SHOW server_version_num")).scalar_one()) < 140000:
        return
    try:
        with bind.begin_nested():  # a build without lz4 refuses: keep pglz
            bind.execute(
                sa.text(f"ALTER TABLE articles ALTER COLUMN text SET COMPRESSION {method}")
            )
    except sa.exc.DBAPIError:
        pass


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
