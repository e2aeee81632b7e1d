"""``newsclf db``: create and inspect the database schema (Alembic, packaged)."""

from __future__ import annotations

import click

DATABASE_URL_HELP = "SQLAlchemy URL of the database (default: NEWSCLF_DATABASE_URL)"


def _url(url: str | None) -> str:
    """``--database-url`` checked as the settings check NEWSCLF_DATABASE_URL, else the setting."""
    from newsclf.errors import InputError
    from newsclf.urls import check_database_url

    if url:
        try:
            return check_database_url(url)
        except ValueError as exc:
            raise InputError(f"--database-url: {exc}") from None
    from newsclf.settings import get_settings

    return get_settings().database_url


def _masked(url: str) -> str:
    from newsclf.urls import mask_url

    return mask_url(url)


@click.group()
def db() -> None:
    """Create and inspect the database schema.

    \b
    Example:
      newsclf db upgrade                       # the database of NEWSCLF_DATABASE_URL
      newsclf db upgrade --database-url postgresql://app@127.0.0.1/newsclf
      newsclf db current
    """


@db.command()
@click.option("--database-url", "url", metavar="URL", help=DATABASE_URL_HELP)
@click.option("--revision", default="head", show_default=True, help="Alembic revision to reach")
def upgrade(url: str | None, revision: str) -> None:
    """Migrate the database to the newest schema (creates the tables; safe to rerun).

    \b
    Example:
      NEWSCLF_DATABASE_URL=postgresql://postgres@127.0.0.1/newsclf newsclf db upgrade
    """
    from newsclf.schema.db import current_revision
    from newsclf.schema.db import upgrade as run_upgrade

    url = _url(url)
    run_upgrade(url, revision)
    click.echo(f"{_masked(url)}: at revision {current_revision(url)}")


@db.command()
@click.option("--database-url", "url", metavar="URL", help=DATABASE_URL_HELP)
def current(url: str | None) -> None:
    """Print the schema revision the database is at, and the newest one known.

    \b
    Example:
      newsclf db current --database-url sqlite:///newsclf.db
    """
    from newsclf.schema.db import current_revision, head_revision

    url = _url(url)
    at, head = current_revision(url), head_revision()
    state = "up to date" if at == head else "run `newsclf db upgrade`"
    at_text = at or "none (empty database)"
    click.echo(f"{_masked(url)}: at revision {at_text}; head {head} ({state})")


@db.command("create-readonly-role")
@click.argument("name")
@click.option("--database-url", "url", metavar="URL", help=DATABASE_URL_HELP)
@click.option(
    "--password-env",
    "password_env",
    metavar="VAR",
    help="Environment variable holding the role's password (default: no password is set).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def create_readonly_role(
    name: str, url: str | None, password_env: str | None, as_json: bool
) -> None:
    """Create (or update) NAME, a PostgreSQL role that can read every newsclf table and
    the article_labels view and write nothing. Idempotent: rerun it freely.

    Run it as the role that owns the newsclf tables (it needs the right to
    create roles). Tables and views that role creates later are readable too.

    \b
    Example:
      ANALYST_PASSWORD=... newsclf db create-readonly-role analyst --password-env ANALYST_PASSWORD
      psql postgresql://analyst@127.0.0.1/newsclf -c "select count(*) from article_labels"
    """
    from newsclf.errors import InputError
    from newsclf.schema.roles import create_readonly_role as create
    from newsclf.settings import secret_from_env

    password = None
    if password_env:
        password = secret_from_env(password_env)
        if password is None:
            raise InputError(f"--password-env {password_env}: that variable is unset or empty")
    url = _url(url)
    report = create(url, name, password=password)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        from newsclf.cli.context import echo_json

        echo_json(report.__dict__)
        return
    done = "created" if report.created else "updated"
    click.echo(
        f"{_masked(url)}: role {report.role} {done}: SELECT on {len(report.relations)} tables and "
        f"views of schema {report.schema}, writes none"
        + ("; password set" if report.password_set else "")
    )
