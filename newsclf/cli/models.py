"""``newsclf models``: the registry of trained versions."""

from __future__ import annotations

from pathlib import Path

import click

from newsclf.cli.context import echo_json, sessions


@click.group()
def models() -> None:
    """List, inspect, register and promote model versions.

    \b
    Example:
      newsclf models list
      newsclf models promote 20261128-121530-3f9a1c
    """


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of versions.")
def list_(as_json: bool) -> None:
    """List registered versions, newest first (* marks the active one)."""
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
        click.echo(
            f"{'*' if r['active'] else ' '} {r['version']}  accuracy {acc}  created {r['created_at']}"
        )


@models.command()
@click.argument("version")
@click.option("--json", "as_json", is_flag=True)
def show(version: str, as_json: bool) -> None:
    """Show one version: metrics, labels, lineage."""
    from newsclf.registry import describe, get_version

    with sessions()() as session:
        row = describe(get_version(session, version))
    if as_json:
        echo_json(row)
    else:
        for k, v in row.items():
            click.echo(f"{k:15} {v}")


@models.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--no-activate", is_flag=True, help="Register without making it active.")
@click.option("--json", "as_json", is_flag=True)
def register(path: Path, no_activate: bool, as_json: bool) -> None:
    """Register an artifact directory trained elsewhere (verified first).

    \b
    Example:
      newsclf models register models/20261128-121530-3f9a1c
    """
    from newsclf.registry import describe, register_artifact

    with sessions().begin() as session:
        row = describe(register_artifact(session, path, activate=not no_activate))
    echo_json(row) if as_json else click.echo(
        f"registered {row['version']} (active: {row['active']})"
    )


@models.command()
@click.argument("version")
@click.option("--json", "as_json", is_flag=True)
def promote(version: str, as_json: bool) -> None:
    """Make VERSION the active model; workers switch between batches, no restart."""
    from newsclf.registry import describe
    from newsclf.registry import promote as do_promote

    with sessions().begin() as session:
        row = describe(do_promote(session, version))
    echo_json(row) if as_json else click.echo(f"active model: {row['version']}")
