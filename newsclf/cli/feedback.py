"""Editors and the model's lifecycle: ``label``, ``review``, ``relabel``, ``retrain``."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Any

import click

from newsclf.cli.context import echo_json, sessions, settings
from newsclf.errors import InputError, NewsclfError

_JSON = click.option("--json", "as_json", is_flag=True, help="One JSON object on the last line.")


@click.command()
@click.argument("article_id", type=int, required=False)
@click.argument("category", required=False)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Import many labels from a CSV file with article_id,label columns.",
)
@_JSON
def label(
    article_id: int | None, category: str | None, csv_path: Path | None, as_json: bool
) -> None:
    """Give ARTICLE_ID its true CATEGORY (the next retraining learns from it).

    \b
    Example:
      newsclf label 1234 sport
      newsclf label --csv labels.csv      # columns: article_id,label
    """
    from newsclf.feedback import add_label, import_labels_csv

    if csv_path is not None:
        if article_id is not None:
            raise InputError("give either ARTICLE_ID CATEGORY or --csv FILE, not both")
        with sessions().begin() as session:
            report = import_labels_csv(session, csv_path)
        for row in report.rejected[:50]:
            click.echo(f"rejected line {row['line']}: {row['reason']}", err=True)
        if len(report.rejected) > 50:
            click.echo(f"... {len(report.rejected) - 50} more rejected rows", err=True)
        summary = report.as_dict()
        if as_json:
            echo_json(summary)
        else:
            click.echo(f"stored {summary['stored']} labels, rejected {summary['rejected']} rows")
        return
    if article_id is None or category is None:
        raise InputError("give ARTICLE_ID CATEGORY (or --csv FILE); see `newsclf label --help`")
    with sessions().begin() as session:
        add_label(session, article_id, category, source="cli")
    if as_json:
        echo_json({"article_id": article_id, "label": category.strip()})
    else:
        click.echo(f"article {article_id}: {category.strip()}")


@click.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--threshold", type=float, default=None, help="Confidence under which [default: settings]."
)
@click.option(
    "--strategy",
    type=click.Choice(["confidence", "margin", "entropy", "diverse"]),
    default="confidence",
    show_default=True,
    help="How to pick among the uncertain articles (see README, Review strategies).",
)
@_JSON
def review(limit: int, threshold: float | None, strategy: str, as_json: bool) -> None:
    """List uncertain articles of the active model that have no label yet.

    The strategy that showed an article is recorded with the label given later.

    \b
    Example:
      newsclf review --limit 10 --strategy diverse
      newsclf label 1234 business        # then label what it shows
    """
    from newsclf.feedback import review as rows_to_review

    cutoff = settings().low_confidence if threshold is None else threshold
    with sessions().begin() as session:
        rows = rows_to_review(session, threshold=cutoff, limit=limit, strategy=strategy)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"nothing to review: no unlabeled article under confidence {cutoff}")
    for r in rows:
        title = r["title"] or " ".join(r["text"].split())[:80]
        where = f"{r['source'] or '-'} {r['day'] or ''}"
        click.echo(
            f"{r['article_id']:>8}  {r['confidence']:.3f}  {r['label']:<14} {where:<24} {title}"
        )


@click.command()
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    help="Only articles published (or, without a date, stored) at or after DATE (UTC).",
)
@click.option("--source", "source_name", help="Only articles of this source name.")
@_JSON
def relabel(since: dt.datetime | None, source_name: str | None, as_json: bool) -> None:
    """Queue stored articles for the active model; earlier predictions are kept.

    \b
    Example:
      newsclf relabel --since 2026-03-01 --source bbc
    """
    from newsclf.worker.app import app
    from newsclf.worker.publish import CeleryPublisher
    from newsclf.worker.relabel import relabel as do_relabel

    when = since.replace(tzinfo=dt.UTC) if since is not None else None
    with CeleryPublisher(app) as publisher:
        report = do_relabel(
            sessions=sessions(),
            publisher=publisher,
            settings=settings(),
            since=when,
            source=source_name,
        )
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(
            f"job {report.job_id}: {report.matched} articles, {report.published} queued "
            f"for model {report.model_version}"
        )


@click.command()
@click.option("--wait", is_flag=True, help="Wait until the run is recorded as finished.")
@click.option("--local", is_flag=True, help="Train in this process instead of on a worker.")
@click.option(
    "--timeout", type=float, default=0, help="With --wait: give up after this many seconds."
)
@_JSON
def retrain(wait: bool, local: bool, timeout: float, as_json: bool) -> None:
    """Train a challenger on the base data plus feedback; promote it if it is not worse.

    The run goes to a worker on the `train` queue (the beat schedule does the
    same), or runs here with --local. Every run is kept in training_runs.

    \b
    Example:
      newsclf retrain --wait
      newsclf retrain --local --json
    """
    factory = sessions()
    if local:
        from newsclf.worker.retrain import retrain as run_here

        try:
            outcome = run_here(
                factory, settings(), trigger="cli", request_id=uuid.uuid4().hex, progress=click.echo
            )
        except NewsclfError:
            raise
        except Exception as exc:  # recorded in training_runs; one line here
            raise NewsclfError(f"retraining failed: {type(exc).__name__}: {exc}") from exc
        _report(outcome.as_dict(), as_json)
        return
    from newsclf.worker.app import TRAIN_QUEUE, app

    request_id = uuid.uuid4().hex
    app.send_task(
        "newsclf.retrain", kwargs={"trigger": "cli"}, task_id=request_id, queue=TRAIN_QUEUE
    )
    if not wait:
        if as_json:
            echo_json({"request_id": request_id, "status": "queued"})
        else:
            click.echo(f"retraining queued (request {request_id}); see `newsclf models history`")
        return
    _report(_wait_for_run(factory, request_id, timeout), as_json)


def _wait_for_run(factory: Any, request_id: str, timeout: float) -> dict[str, Any]:
    """Poll training_runs until the run of ``request_id`` is finished."""
    from newsclf.schema.training_runs import training_run_of_request

    started = time.monotonic()
    while True:
        with factory() as session:
            run = training_run_of_request(session, request_id)
            if run is not None and run.status != "running":
                return run_dict(run)
        if timeout and time.monotonic() - started > timeout:
            state = "still running" if run is not None else "not started"
            raise NewsclfError(
                f"retraining {request_id} {state} after {timeout:.0f}s: is a worker consuming "
                "the `train` queue (`newsclf worker -Q train`)?"
            )
        time.sleep(1.0)


def run_dict(run: Any) -> dict[str, Any]:
    """A training_runs row as JSON-ready data."""
    return {
        "run_id": run.id,
        "status": run.status,
        "decision": run.decision,
        "reason": run.reason,
        "challenger_version": run.challenger_version,
        "champion_version": run.champion_version,
        "data_sha256": run.data_sha256,
        "n_base": run.n_base,
        "n_feedback": run.n_feedback,
        "n_holdout": run.n_holdout,
        "metrics": run.metrics,
    }


def _report(run: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(run)
    else:
        click.echo(
            f"run {run['run_id']} {run['status']}: {run['decision'] or '-'} "
            f"(challenger {run['challenger_version']}, champion {run['champion_version']}, "
            f"{run['n_feedback']} feedback labels): {run['reason']}"
        )
    if run["status"] == "failed":
        raise NewsclfError(f"retraining failed: {run['reason']}")
