"""``newsclf results``: one job's articles with their labels, as CSV or JSONL."""

from __future__ import annotations

import csv
import json
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
    from newsclf.worker.results import RESULT_FIELDS, job_results, model_status

    factory = sessions()
    with factory() as session:
        model = model_status(session)
        rows = job_results(session, job_id=job_id)
        if fmt == "jsonl":
            for row in rows:
                output.write(json.dumps(row, default=str) + "\n")
            return
        writer: Any = None
        for row in rows:
            probs = row.pop("probabilities") or {}
            if writer is None:
                labels = model["labels"] if model else sorted(probs)
                fields = [f for f in RESULT_FIELDS if f != "probabilities"] + [
                    f"p_{k}" for k in labels
                ]
                writer = csv.DictWriter(output, fieldnames=fields, extrasaction="ignore")
                writer.writeheader()
            row.update({f"p_{k}": v for k, v in probs.items()})
            writer.writerow(row)
