"""``newsclf run``: the single-machine mode (SQLite, in-process workers, no Redis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from newsclf.cli.context import echo_json, progress_bar, sessions, settings
from newsclf.cli.enqueue import column_option
from newsclf.errors import InputError

QUERY_HINT = (
    'newsclf query "select title, label, confidence from article_labels order by confidence limit 20"'
)
"""How `newsclf run` tells a user to look at what it labeled (README's quickstart quotes it)."""


@click.command()
@click.argument("feeds", nargs=-1, required=True)
@click.option(
    "--train-data",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labeled CSV/JSONL to train on when no model exists yet (default: NEWSCLF_TRAIN_DATA).",
)
@click.option("--source", "source_name", help="Name stored with the articles.")
@column_option
@click.option(
    "--json", "as_json", is_flag=True, help="End with one JSON object (job, counts per label)."
)

def run(
    feeds: tuple[str, ...],
    train_data: Path | None,
    source_name: str | None,
    as_json: bool,
    columns: dict[str, str],
) -> None:
    """Label FEEDS on this machine: train a model if there is none, label, summarize.

    Uses the database of NEWSCLF_DATABASE_URL (default: the SQLite file
    newsclf.db here) and in-process workers instead of Redis: the same
    enqueue, batching and write code as `newsclf enqueue` + `newsclf worker`.

    \b
    Example:
      newsclf run feed.csv --train-data ../shared/data/bbc-text.csv
    """
    from newsclf.schema.registry import active_version
    from newsclf.worker.active_model import ActiveModel
    from newsclf.worker.batch import Classifier, configure_tensorflow
    from newsclf.worker.embedded import EmbeddedQueue
    from newsclf.worker.enqueue import enqueue_feeds
    from newsclf.worker.probes import serve_embedded_probes

    config = settings()
    for feed in feeds:  # before anything slow: a typo should not cost a training run
        if "://" not in feed and not Path(feed).is_file():
            raise InputError(f"no such file: {feed}")
        if columns and "://" not in feed:  # --column checked against the header now
            from newsclf.worker.ingest import read_feed

            items = read_feed(feed, max_text_chars=config.max_text_chars, columns=columns)
            getattr(items, "close", lambda: None)()
    factory = sessions(upgrade=True)
    with factory() as session:
        has_model = active_version(session) is not None
    if not has_model:
        _train_first(factory, train_data or config.train_data, quiet=as_json)

    configure_tensorflow(config.tf_threads)  # too late (logged) if a training run came first
    metrics = serve_embedded_probes(config, factory)
    classifier = Classifier(factory, ActiveModel(factory, config), settings=config, metrics=metrics)
    with progress_bar(0, "reading") as bar:

        def progress(report: Any) -> None:
            bar.label = (
                f"stored {report.new} new, {report.duplicate} duplicate, {report.rejected} rejected"
            )
            bar.render_progress()

        with EmbeddedQueue(classifier, config) as queue:
            report = enqueue_feeds(
                list(feeds),
                sessions=factory,
                publisher=queue,
                settings=config,
                source_name=source_name,
                progress=progress,
                columns=columns,
            )
            queue.join()
    summary = _summary(factory, report.job_id, config.low_confidence)
    summary.update(
        rejected=report.rejected, duplicate=report.duplicate, new=report.new, total=report.total
    )
    for row in report.rejected_rows[:20]:
        click.echo(f"rejected line {row['line']}: {row['reason']}", err=True)
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"\njob {report.job_id}: {report.total} rows, {report.new} new, {report.duplicate} duplicate, "
        f"{report.rejected} rejected; model {summary['model_version']}"
    )
    click.echo(f"\n{'label':16} {'articles':>8}")
    for label, n in summary["labels"].items():
        click.echo(f"{label:16} {n:>8}")
    click.echo(f"{'(failed)':16} {summary['failed']:>8}")
    click.echo(
        f"\n{summary['low_confidence']} articles under confidence {config.low_confidence} "
        "(`newsclf review` lists them)"
    )
    click.echo(f"query them: {summary['query_hint']}")


def _train_first(factory: Any, data: Path, *, quiet: bool) -> None:
    from newsclf.schema.registry import register_artifact
    from newsclf.trainer.blobs import artifact_record
    from newsclf.trainer.train import train

    if not quiet:
        click.echo(f"no model yet: training one on {data} first", err=True)
    result = train(data, progress=None if quiet else lambda line: click.echo(line, err=True))
    record = artifact_record(Path(result.path))
    with factory.begin() as session:
        register_artifact(session, record)
    if not quiet:
        click.echo(f"trained {result.version}: accuracy {result.metrics['accuracy']:.4f}", err=True)


def _summary(factory: Any, job_id: int, low: float) -> dict[str, Any]:
    from newsclf.schema.jobs import job_label_summary
    from newsclf.schema.registry import active_version

    with factory() as session:
        version = active_version(session)
        assert version is not None  # the run trained or found one
        labels = job_label_summary(session, job_id=job_id, version=version, low_confidence=low)
    return {
        "job_id": job_id,
        "model_version": version,
        "labels": labels.labels,
        "low_confidence": labels.low_confidence,
        "failed": labels.failed,
        "query_hint": QUERY_HINT,
    }
