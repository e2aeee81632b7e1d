"""A read-only PostgreSQL role for analysts: they query the results, they write nothing.

``create_readonly_role`` is idempotent (run it again to add a table created
since, or to change the password)::

    from schema.roles import create_readonly_role
    report = create_readonly_role("postgresql://postgres@127.0.0.1/newsclf", "analyst")

It grants, in the database of ``url`` and the schema holding the newsclf
tables: CONNECT on the database, USAGE on the schema, SELECT on every table
and view there (``article_labels`` included), and default privileges so that
tables and views the connecting role creates later (the ``article_labels``
view is recreated on each promotion) are readable too. The role logs in,
cannot create roles or databases, and its transactions default to read-only.
An existing role of that name keeps its password unless one is given, and
loses any write right on the schema's tables; a superuser or a role that can
create roles or databases is refused.

Run it as the role that owns the newsclf tables (the one that runs
``newsclf db upgrade``), with the right to create roles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy.engine import URL

from newsclf.errors import InputError

ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""Role names accepted: plain lower-case identifiers (no quoting surprises)."""


@dataclass
class RoleReport:
    role: str
    database: str
    schema: str
    created: bool
    password_set: bool
    relations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def create_readonly_role(url: str | URL, name: str, *, password: str | None = None) -> RoleReport:
    """Create (or update) the read-only role ``name``; see the module docstring."""
    from psycopg import sql

    from schema.db import make_engine

    if not ROLE_NAME.fullmatch(name):
        raise InputError(
            f"role name {name!r}: use lower-case letters, digits and _ "
            "(at most 63, not a digit first)"
        )
    engine = make_engine(url)
    if engine.dialect.name != "postgresql":
        engine.dispose()
        raise InputError("read-only roles need PostgreSQL: SQLite has no roles (share a copy)")
    role = sql.Identifier(name)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        with conn.transaction():
            database, schema, me = conn.execute(
                "SELECT current_database(), current_schema(), current_user"
            ).fetchone()
            ident = sql.Identifier(schema)
            exists = conn.execute(
                "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls"
                " FROM pg_roles WHERE rolname = %s",
                [name],
            ).fetchone()
            if name == me or (exists and exists[0]):
                raise InputError(
                    f"role {name} exists with more than read rights (or is you): "
                    "choose another name"
                )

            def ddl(template: str, *parts: object) -> None:
                conn.execute(sql.SQL(template).format(*parts))

            ddl(
                "{} {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION",
                sql.SQL("ALTER ROLE" if exists else "CREATE ROLE"),
                role,
            )
            if password is not None:
                # DDL takes no bound parameters: the password goes in as a quoted literal.
                ddl("ALTER ROLE {} PASSWORD {}", role, sql.Literal(password))
            ddl("ALTER ROLE {} SET default_transaction_read_only = on", role)
            ddl("GRANT CONNECT ON DATABASE {} TO {}", sql.Identifier(database), role)
            ddl("GRANT USAGE ON SCHEMA {} TO {}", ident, role)
            ddl("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}", ident, role)
            # An existing role may have been granted more: take every write right back.
            ddl(
                "REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"
                " ON ALL TABLES IN SCHEMA {} FROM {}",
                ident,
                role,
            )
            ddl(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}",
                sql.Identifier(me),
                ident,
                role,
            )
            relations = [
                r[0]
                for r in conn.execute(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p')"
                    " ORDER BY c.relname",
                    [schema],
                )
            ]
            can_create = conn.execute(
                "SELECT has_schema_privilege(%s, %s, 'CREATE')", [name, schema]
            ).fetchone()
        report = RoleReport(name, database, schema, not exists, password is not None, relations)
        if "articles" not in relations:
            report.warnings.append(
                f"no newsclf tables in {database}.{schema} yet: run `newsclf db upgrade` (the "
                "default privileges already cover them)"
            )
        if can_create and can_create[0]:
            report.warnings.append(
                f"every role may create objects in schema {schema} (PostgreSQL < 15 default): "
                f"run REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC"
            )
        return report
    finally:
        raw.close()
        engine.dispose()
