"""``newsclf report``: the drift and health page of the active model's labels."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from newsclf.cli.context import echo_json, sessions, settings


@click.command()
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Only articles stored at or after DATE (UTC).",
)
@click.option("--source", "source_name", help="Only articles of this source name.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the HTML page here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the same figures as one JSON object.")
def report(since: dt.datetime | None, source_name: str | None, out: Path | None, as_json: bool) -> None:
    """Write one HTML page on how the active model's labels drift, day by day.

    Label share per day and per source against the training set, confidence,
    the share under the review threshold, out-of-vocabulary words, throughput,
    versions in service, and a drift score per day flagged over
    NEWSCLF_DRIFT_THRESHOLD (`newsclf status` shows the latest verdict).

    \b
    Example:
      newsclf report --since 2026-11-01 --out report.html
      newsclf report --source wires --json | jq .latest
    """
    from newsclf.errors import InputError
    from newsclf.report import build_report
    from newsclf.report_html import render_html

    if out is None and not as_json:
        raise InputError("give --out FILE (the HTML page) and/or --json")
    when = since.replace(tzinfo=dt.UTC) if since is not None else None
    with sessions().begin() as session:
        figures = build_report(session, settings=settings(), since=when, source=source_name)
    if out is not None:
        out.write_text(render_html(figures), encoding="utf-8")
    if as_json:
        echo_json(figures)
        return
    latest = figures["latest"]
    verdict = (
        "no labeled article in this window"
        if latest is None
        else f"{'DRIFT' if latest['flagged'] else 'no drift'} on {latest['day']}: "
        f"score {latest['drift_score']:.3f} (threshold {figures['threshold']})"
    )
    click.echo(f"wrote {out}: {len(figures['days'])} days; {verdict}")
