"""``newsclf query``: read-only SQL on the configured database, PostgreSQL or SQLite."""

from __future__ import annotations

import csv
import json
import sys
from typing import Any

import click

from newsclf.cli.context import settings


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


@click.command()
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="table for reading, csv or json (one list) for tools.")
@click.option("--limit", default=1000, show_default=True,
              help="Most rows printed (0: all); a note on stderr says when rows were left out.")
def query(sql: str, fmt: str, limit: int) -> None:
    """Run one read-only SQL statement and print its rows (no sqlite3 or psql needed).

    The statement cannot write: it runs in a read-only transaction that is rolled back.

    \b
    Example:
      newsclf query "select title, label, confidence from article_labels order by confidence limit 5"
      newsclf query "select label, count(*) from article_labels group by label" --format csv
    """
    from newsclf.errors import InputError
    from newsclf.schema.db import make_engine
    from newsclf.schema.query import StatementError, read_only_query

    engine = make_engine(settings().database_url)
    try:
        result = read_only_query(engine, sql, limit=limit or None)
    except StatementError as exc:
        raise InputError(f"query refused: {exc}") from None
    finally:
        engine.dispose()
    if fmt == "json":
        click.echo(json.dumps([dict(zip(result.columns, row, strict=True)) for row in result.rows],
                              default=str))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_cell(v) for v in row] for row in result.rows])
    elif result.columns:
        cells = [[_cell(v) for v in row] for row in result.rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(result.columns)]
        click.echo("  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)).rstrip())
        for row in cells:
            click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    if result.truncated:
        click.echo(f"note: only the first {limit} rows are shown (--limit 0 for all)", err=True)
