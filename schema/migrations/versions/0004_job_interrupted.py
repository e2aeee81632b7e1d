"""Jobs get two more statuses: ``enqueuing`` (its feed is still being stored; no
worker may finish it) and ``interrupted`` (its enqueue stopped before the end of
the feed; its stored articles are labeled, it stays ``interrupted``).

Only the CHECK constraint on ``jobs.status`` changes. On SQLite a batch
migration would rebuild ``jobs``, and dropping the old table deletes every
``job_articles`` row through ``ON DELETE CASCADE`` (foreign keys are on, and
cannot be turned off inside the migration's transaction). A wider CHECK leaves
every stored row valid, so the table's definition is edited in place instead,
the way SQLite documents for changing a CHECK constraint
(https://www.sqlite.org/lang_altertable.html, "otheralter").

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("queued", "running", "done", "failed")
NEW = ("queued", "enqueuing", "running", "interrupted", "done", "failed")


def _check(statuses: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"


def _set(old: Sequence[str], new: Sequence[str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
        bind.exec_driver_sql("PRAGMA writable_schema=ON")
        try:
            changed = bind.execute(
                sa.text(
                    "UPDATE sqlite_master SET sql = replace(sql, :old, :new) "
                    "WHERE type = 'table' AND name = 'jobs' AND instr(sql, :old) > 0"
                ),
                {"old": _check(old), "new": _check(new)},
            ).rowcount
        finally:
            bind.exec_driver_sql("PRAGMA writable_schema=OFF")
        if changed != 1:
            raise RuntimeError(f"jobs has no CHECK ({_check(old)}) to change")
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
        return
    # 0001 named it ck_jobs_ck_jobs_status (the naming convention applied twice).
    for name in ("ck_jobs_ck_jobs_status", "ck_jobs_status"):
        op.execute(f"ALTER TABLE jobs DROP CONSTRAINT IF EXISTS {name}")
    op.create_check_constraint(op.f("ck_jobs_status"), "jobs", _check(new))


def upgrade() -> None:
    _set(OLD, NEW)


def downgrade() -> None:
    op.execute("UPDATE jobs SET status = 'queued' WHERE status = 'enqueuing'")
    op.execute("UPDATE jobs SET status = 'failed' WHERE status = 'interrupted'")
    _set(NEW, OLD)
