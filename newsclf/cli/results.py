"""``newsclf results``: one job's articles with their labels, as CSV or JSONL."""

from __future__ import annotations

from typing import Any

import click

from newsclf.cli.context import sessions


@click.command()
@click.option("--job", "job_id", type=int, required=True, help="Job id (printed by enqueue).")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True
)
@click.option(
    "--output", "-o", type=click.File("w"), default="-", help="File to write (default: stdout)."
)
def results(job_id: int, fmt: str, output: Any) -> None:
    """Export one job's articles with label, confidence and class probabilities.

    \b
    Example:
      newsclf results --job 3 --format jsonl > labeled.jsonl
    """
    from newsclf.worker.results import write_results

    factory = sessions()
    with factory() as session:
        write_results(session, job_id=job_id, fmt=fmt, output=output)
