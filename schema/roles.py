"""A read-only PostgreSQL role for analysts: they query the results, they write nothing.

``create_readonly_role`` is idempotent (run it again to add a table created
since, or to change the password)::

    from newsclf.schema.roles import create_readonly_role
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

Rights also come from elsewhere, and each is checked before anything commits:

- memberships, followed through every level: a member of any role other than
  the read-only predefined ones (``READ_ONLY_ROLES``; ``pg_write_all_data``,
  the tables' owner, any role of the site's) is refused, naming the role to
  revoke: revoking a membership someone granted could break what they
  granted it for, so the command says what to do instead of doing it;
- default privileges that would give the role (or PUBLIC) a write right on
  tables created later: those defined by the connecting role are revoked
  (reported as a warning), those of other roles refused;
- finally the effective rights, as PostgreSQL computes them: any write right
  left on a table or sequence of the schema (a grant to PUBLIC, say) refuses
  the role, and the whole change is rolled back.

Run it as the role that owns the newsclf tables (the one that runs
``newsclf db upgrade``) if it may create roles, or as a superuser: the
default privileges are always those of the tables' owner, which recreates
the view on each promotion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import URL

from newsclf.errors import InputError

ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""Role names accepted: plain lower-case identifiers (no quoting surprises)."""


READ_ONLY_ROLES = frozenset(
    {"pg_read_all_data", "pg_read_all_settings", "pg_read_all_stats", "pg_stat_scan_tables",
     "pg_monitor"}
)  # fmt: skip
"""Predefined roles the read-only role may be a member of: they read, they write nothing."""

WRITE_PRIVILEGES = "INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"
"""Table privileges a read-only role must not hold."""

_MEMBER_OF = """
WITH RECURSIVE m(roleid) AS (
    SELECT roleid FROM pg_auth_members WHERE member = (SELECT oid FROM pg_roles WHERE rolname = %s)
    UNION
    SELECT a.roleid FROM pg_auth_members a JOIN m ON a.member = m.roleid
)
SELECT r.rolname FROM pg_roles r JOIN m ON r.oid = m.roleid ORDER BY r.rolname
"""
"""Every role ``%s`` is a member of, directly or through others."""

_WRITE_DEFAULTS = """
SELECT pg_get_userbyid(d.defaclrole), coalesce(n.nspname, '(all schemas)'),
       string_agg(DISTINCT a.privilege_type, ', ')
FROM pg_default_acl d
LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL aclexplode(d.defaclacl) a
WHERE d.defaclobjtype IN ('r', 'S')
  AND a.grantee IN (0, (SELECT oid FROM pg_roles WHERE rolname = %s))
  AND a.privilege_type NOT IN ('SELECT')
  AND (d.defaclnamespace = 0 OR n.nspname = %s)
GROUP BY 1, 2 ORDER BY 1, 2
"""
"""Default privileges that would let ``%s`` (or PUBLIC) write tables or sequences created later."""

_WRITABLE = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND (
    (c.relkind IN ('r', 'v', 'm', 'p', 'f')
     AND has_table_privilege(%(role)s, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))
    OR (c.relkind = 'S' AND has_sequence_privilege(%(role)s, c.oid, 'USAGE, UPDATE')))
ORDER BY c.relname
"""
"""Relations of the schema that ``role`` can write, by every route PostgreSQL knows."""


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

    from newsclf.schema.db import make_engine

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

            _refuse_write_memberships(conn, name)

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
            # Tables and views created later are created by the tables' owner (the role
            # that runs `db upgrade` and promotes models), which may not be us (a superuser).
            owner = conn.execute(
                "SELECT tableowner FROM pg_tables WHERE schemaname = %s AND tablename = 'articles'",
                [schema],
            ).fetchone()
            creator = owner[0] if owner else me
            if creator == name:
                raise InputError(f"role {name} owns the newsclf tables: choose another name")
            ddl(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}",
                sql.Identifier(creator),
                ident,
                role,
            )
            warnings = _revoke_write_defaults(conn, name, schema, creator)
            _refuse_writable(conn, name, schema)
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
        report = RoleReport(
            name, database, schema, not exists, password is not None, relations, warnings
        )
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


def _refuse_write_memberships(conn: Any, name: str) -> None:
    """InputError naming the roles to revoke when ``name`` is a member of a role that
    may write (directly or through other roles)."""
    member_of = [r[0] for r in conn.execute(_MEMBER_OF, [name])]
    writers = [r for r in member_of if r not in READ_ONLY_ROLES]
    if writers:
        raise InputError(
            f"role {name} is a member of {', '.join(writers)} (directly or through another "
            f"role), which may write: revoke it (e.g. REVOKE {writers[0]} FROM {name}) and "
            "rerun; nothing was changed"
        )


def _revoke_write_defaults(conn: Any, name: str, schema: str, me: str) -> list[str]:
    """Revoke the write default privileges for ``name`` that ``me`` defined; refuse
    those other roles defined. The warnings say what was revoked."""
    from psycopg import sql

    warnings = []
    for owner, where, privileges in conn.execute(_WRITE_DEFAULTS, [name, schema]).fetchall():
        if owner != me:
            raise InputError(
                f"default privileges of role {owner} in {where} give {name} or PUBLIC "
                f"{privileges} on tables created later: run ALTER DEFAULT PRIVILEGES FOR ROLE "
                f"{owner} ... REVOKE as {owner} and rerun; nothing was changed"
            )
        in_schema = (
            sql.SQL("IN SCHEMA {} ").format(sql.Identifier(schema))
            if where != "(all schemas)"
            else sql.SQL("")
        )
        for kind, rights in (("TABLES", WRITE_PRIVILEGES), ("SEQUENCES", "USAGE, UPDATE")):
            conn.execute(
                sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} {}REVOKE {} ON {} FROM {}").format(
                    sql.Identifier(me),
                    in_schema,
                    sql.SQL(rights),
                    sql.SQL(kind),
                    sql.Identifier(name),
                )
            )
        warnings.append(
            f"revoked default privileges ({privileges}) of {me} in {where} that let {name} "
            "write tables created later"
        )
    left = conn.execute(_WRITE_DEFAULTS, [name, schema]).fetchall()
    if left:  # granted to PUBLIC: not ours to take from everyone
        owner, where, privileges = left[0]
        raise InputError(
            f"default privileges of role {owner} in {where} give PUBLIC {privileges} on tables "
            f"created later: revoke them from PUBLIC and rerun; nothing was changed"
        )
    return warnings


def _refuse_writable(conn: Any, name: str, schema: str) -> None:
    """InputError when ``name`` can still write a relation of ``schema`` (a grant to
    PUBLIC, a route not foreseen): the transaction rolls back."""
    writable = [r[0] for r in conn.execute(_WRITABLE, {"schema": schema, "role": name})]
    if writable:
        raise InputError(
            f"role {name} could still write {', '.join(writable[:5])}"
            f"{' ...' if len(writable) > 5 else ''} in schema {schema} (a grant to PUBLIC?): "
            f"revoke it (e.g. REVOKE ALL ON {writable[0]} FROM PUBLIC) and rerun; "
            "nothing was changed"
        )
