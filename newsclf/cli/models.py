"""``newsclf models``: the registry of trained versions and its history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from newsclf.cli.context import echo_json, sessions, settings

_BY = click.option(
    "--by", default=None, help="Who does this, for the history [default: NEWSCLF_USER or $USER]."
)
_JSON = click.option("--json", "as_json", is_flag=True, help="One JSON object on the last line.")


def _who(by: str | None) -> str:
    return by or settings().user or "unknown"


@click.group()
def models() -> None:
    """List, inspect, register, promote and roll back model versions.

    \b
    Example:
      newsclf models list
      newsclf models promote 20261128-121530-3f9a1c --reason "better on March data"
      newsclf models rollback
    """


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of versions.")
def list_(as_json: bool) -> None:
    """List registered versions, newest first (* marks the active one).

    \b
    Example:
      newsclf models list
      newsclf models list --json | jq '.[0].version'
    """
    from newsclf.registry import describe, list_versions

    with sessions()() as session:
        rows = [describe(r) for r in list_versions(session)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no model versions yet: train one with `newsclf train`")
    for r in rows:
        acc = f"{r['accuracy']:.4f}" if r["accuracy"] is not None else "-"
        mark = "*" if r["active"] else " "
        click.echo(f"{mark} {r['version']}  accuracy {acc}  created {r['created_at']}")


@models.command()
@click.argument("version")
@_JSON
def show(version: str, as_json: bool) -> None:
    """Show one version: metrics, labels, lineage, blob and activations.

    \b
    Example:
      newsclf models show 20261128-121530-3f9a1c
      newsclf models show 20261128-121530-3f9a1c --json
    """
    from sqlalchemy import select

    from newsclf.registry import describe, get_version, history
    from schema.models import ModelBlob

    with sessions()() as session:
        model = get_version(session, version)
        row: dict[str, Any] = describe(model)
        row["config"] = model.config
        row["blob_bytes"] = session.scalar(
            select(ModelBlob.size).where(ModelBlob.version == version)
        )
        row["activations"] = [h for h in history(session) if h["version"] == version]
    if as_json:
        echo_json(row)
    else:
        for k, v in row.items():
            click.echo(f"{k:15} {v}")


@models.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--no-activate", is_flag=True, help="Register without making it active.")
@_BY
@_JSON
def register(path: Path, no_activate: bool, by: str | None, as_json: bool) -> None:
    """Register an artifact directory trained elsewhere (verified, bytes stored).

    Registering a version again re-stores its bytes (mends a corrupted blob).

    \b
    Example:
      newsclf models register models/20261128-121530-3f9a1c
    """
    from newsclf.registry import describe, register_artifact

    with sessions().begin() as session:
        row = describe(register_artifact(session, path, activate=not no_activate, by=_who(by)))
    if as_json:
        echo_json(row)
    else:
        click.echo(f"registered {row['version']} (active: {row['active']})")


@models.command()
@click.argument("version")
@click.option("--reason", default=None, help="Why, for the history.")
@_BY
@_JSON
def promote(version: str, reason: str | None, by: str | None, as_json: bool) -> None:
    """Make VERSION the active model; workers switch between batches, no restart.

    \b
    Example:
      newsclf models promote 20261128-121530-3f9a1c --reason "better on March news"
    """
    from newsclf.registry import describe
    from newsclf.registry import promote as do_promote

    with sessions().begin() as session:
        row = describe(do_promote(session, version, by=_who(by), reason=reason))
    echo_json(row) if as_json else click.echo(f"active model: {row['version']}")


@models.command()
@click.option("--reason", default=None, help="Why, for the history.")
@_BY
@_JSON
def rollback(reason: str | None, by: str | None, as_json: bool) -> None:
    """Re-activate the version that was active before the current one.

    \b
    Example:
      newsclf models rollback --reason "too many sport labels on business feeds"
    """
    from newsclf.registry import describe
    from newsclf.registry import rollback as do_rollback

    with sessions().begin() as session:
        row = describe(do_rollback(session, by=by or "rollback", reason=reason))
    echo_json(row) if as_json else click.echo(f"rolled back: active model {row['version']}")


@models.command("history")
@click.option("--limit", default=20, show_default=True, help="How many activations.")
@_JSON
def history_(limit: int, as_json: bool) -> None:
    """Which version was active when, and who or what activated it (newest first).

    \b
    Example:
      newsclf models history --limit 5
    """
    from newsclf.registry import history

    with sessions()() as session:
        rows = history(session, limit)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        until = r["deactivated_at"] or "now"
        click.echo(f"{r['version']}  {r['activated_at']} .. {until}  by {r['by']}: {r['reason']}")
