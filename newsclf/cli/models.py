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
    from newsclf.cli.registry import describe
    from newsclf.schema.registry import list_versions

    with sessions()() as session:
        rows = [describe(r) for r in list_versions(session)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no model versions yet: train one with `newsclf train`")
    for r in rows:
        acc = f"{r['accuracy']:.2%}" if r["accuracy"] is not None else "-"
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
    from newsclf.cli.registry import describe, history
    from newsclf.schema.registry import blob_size, get_version

    with sessions()() as session:
        model = get_version(session, version)
        row: dict[str, Any] = describe(model)
        row["config"] = model.config
        row["blob_bytes"] = blob_size(session, version)
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
    from newsclf.cli.registry import describe
    from newsclf.schema.registry import register_artifact
    from newsclf.trainer.blobs import artifact_record

    record = artifact_record(path)
    with sessions().begin() as session:
        row = describe(register_artifact(session, record, activate=not no_activate, by=_who(by)))
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
    from newsclf.cli.registry import describe
    from newsclf.schema.registry import promote as do_promote

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
    from newsclf.cli.registry import describe
    from newsclf.schema.registry import rollback as do_rollback

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
    from newsclf.cli.registry import history

    with sessions()() as session:
        rows = history(session, limit)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        until = r["deactivated_at"] or "now"
        click.echo(f"{r['version']}  {r['activated_at']} .. {until}  by {r['by']}: {r['reason']}")


@models.command()
@click.argument("version", required=False)
@click.option("--off", is_flag=True, help="Stop shadow scoring.")
@_JSON
def shadow(version: str | None, off: bool, as_json: bool) -> None:
    """Score every new article with VERSION too, beside the active model.

    Its predictions are stored under its own version; the view, job progress,
    results and review keep showing the active model. Compare them with
    `newsclf models compare`.

    \b
    Example:
      newsclf models shadow 20261128-121530-3f9a1c
      newsclf models shadow --off
    """
    from newsclf.errors import InputError
    from newsclf.shadow import start_shadow, stop_shadow

    if off == (version is not None):
        raise InputError("give either VERSION or --off; see `newsclf models shadow --help`")
    with sessions().begin() as session:
        before = stop_shadow(session) if off else start_shadow(session, str(version))
    row = {"shadow": None if off else version, "previous": before}
    if as_json:
        echo_json(row)
    else:
        click.echo(f"shadow: {row['shadow'] or 'off'} (was {before or 'none'})")


@models.command()
@click.argument("a")
@click.argument("b")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Only articles stored at or after DATE (UTC).",
)
@_JSON
def compare(a: str, b: str, since: Any, as_json: bool) -> None:
    """Compare versions A and B on the articles both scored.

    Agreement, the confusion between their labels, each one's accuracy on the
    articles with feedback labels, and their mean confidence.

    \b
    Example:
      newsclf models compare 20261128-121530-3f9a1c 20261201-090000-77aa01 --since 2026-12-01
    """
    import datetime as dt

    from newsclf.compare import compare_versions

    when = since.replace(tzinfo=dt.UTC) if since is not None else None
    with sessions()() as session:
        figures = compare_versions(session, a, b, since=when)
    if as_json:
        echo_json(figures)
        return
    click.echo(_compare_text(figures))


def _compare_text(f: dict[str, Any]) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f} %"

    a, b = f["a"], f["b"]
    lines = [
        f"{f['articles']} articles scored by both; agreement {pct(f['agreement'])}",
        f"mean confidence: {a} {f['mean_confidence'][a] or 0:.3f}, "
        f"{b} {f['mean_confidence'][b] or 0:.3f}",
        f"accuracy on {f['feedback_articles']} feedback labels: "
        f"{a} {pct(f['accuracy_on_feedback'][a])}, {b} {pct(f['accuracy_on_feedback'][b])}",
        f"confusion (rows: {a}, columns: {b}):",
    ]
    labels = list(f["confusion"])
    width = max([len(x) for x in labels] + [6])
    lines.append(" " * width + " " + " ".join(f"{x[:width]:>{width}}" for x in labels))
    for la in labels:
        cells = " ".join(f"{f['confusion'][la][lb]:>{width}}" for lb in labels)
        lines.append(f"{la:<{width}} {cells}")
    return "\n".join(lines)
