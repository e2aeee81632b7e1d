"""``newsclf enqueue``: store feeds and queue their articles, optionally wait for
the job; SIGINT/SIGTERM stop it cleanly. ``--column`` is shared with ``run``."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

import click

from newsclf.cli.context import echo_json, progress_bar, sessions, settings


def _column_mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--column`` values as a mapping; a bad one is one line and exit 2 (InputError)."""
    from newsclf.worker.columns import parse_column_mapping

    return parse_column_mapping(pairs)


column_option = click.option(
    "--column",
    "columns",
    multiple=True,
    metavar="FIELD=HEADER",
    callback=lambda ctx, param, value: _column_mapping(value),
    help="CSV/JSONL: read FIELD (id, text, title, url, published, source) from column HEADER "
    "(JSONL: a dotted path into nested objects). Repeatable; see the README for the aliases.",
)
"""``--column FIELD=HEADER`` of ``enqueue`` and ``run``."""


@click.command()
@click.argument("feeds", nargs=-1, required=True)
@click.option(
    "--source", "source_name", help="Name stored with the articles (default: the file names)."
)
@click.option(
    "--wait", is_flag=True, help="Block until every article is labeled, then print the summary."
)
@click.option(
    "--timeout",
    type=float,
    default=0,
    help="With --wait: give up after this many seconds (0: never).",
)
@column_option
@click.option(
    "--json", "as_json", is_flag=True, help="End with one JSON object (job id and counts)."
)
def enqueue(
    feeds: tuple[str, ...],
    source_name: str | None,
    wait: bool,
    timeout: float,
    as_json: bool,
    columns: dict[str, str],
) -> None:
    """Store the articles of FEEDS (CSV, JSONL, RSS/Atom files or URLs) and queue them for labeling.

    \b
    Example:
      newsclf enqueue news.csv feed.rss --source morning --wait
      newsclf enqueue stories.csv --column text=story --column title=heading
    """
    from newsclf.worker.app import app
    from newsclf.worker.backpressure import limited
    from newsclf.worker.enqueue import StopFlag, enqueue_feeds
    from newsclf.worker.publish import CeleryPublisher

    factory = sessions()
    stop = StopFlag()  # SIGINT/SIGTERM: stored rows stay, the job says `interrupted`
    click.get_current_context().with_resource(_stop_on_signals(stop))
    with progress_bar(0, "reading") as bar:

        def progress(report: Any) -> None:
            bar.label = (
                f"stored {report.new} new, {report.duplicate} duplicate, {report.rejected} rejected"
            )
            bar.render_progress()

        def unreachable(message: str) -> None:
            click.echo(f"note: {message}", err=True)

        def waiting(note: str) -> None:
            click.echo(f"\nnote: {note}", err=True)

        with CeleryPublisher(app, stop=stop, on_unreachable=unreachable) as publisher:
            report = enqueue_feeds(
                list(feeds),
                sessions=factory,
                publisher=limited(publisher, settings(), on_wait=waiting),
                settings=settings(),
                source_name=source_name,
                progress=progress,
                columns=columns,
                stop=stop,
            )
    if report.interrupted:
        _end_interrupted(report, stop, as_json)
    if report.new + report.duplicate == 0:  # not one good row: a user error, said in one line
        from newsclf.errors import InputError

        first = report.rejected_rows[0] if report.rejected_rows else None
        why = f" (first: line {first['line']}: {first['reason']})" if first else ""
        raise InputError(
            f"no good row in {report.source}: {report.rejected} rejected{why}; "
            f"`newsclf status --job {report.job_id}` lists every reason"
        )
    for row in report.rejected_rows[:20]:
        click.echo(f"rejected line {row['line']}: {row['reason']}", err=True)
    if report.rejected > 20:
        click.echo(
            f"... {report.rejected - 20} more rejected rows: see `newsclf status --job {report.job_id}`",
            err=True,
        )
    for note in report.notes[:20]:
        click.echo(f"note: {note}", err=True)
    summary: dict[str, Any] = report.as_dict()
    summary.pop("rejected_rows")
    if wait:
        summary.update(_wait_unless_stopped(factory, summary, stop, timeout, as_json))
    if as_json:
        echo_json(summary)
    else:
        click.echo(
            f"job {report.job_id}: {report.total} rows, {report.new} new, {report.duplicate} duplicate, "
            f"{report.rejected} rejected, {report.published} queued for model {report.model_version}"
        )
        if wait:
            click.echo(
                f"job {report.job_id} {summary['status']}: {summary['labeled']} labeled, {summary['failed']} failed"
            )


@contextlib.contextmanager
def _stop_on_signals(stop: Any) -> Iterator[None]:
    """SIGINT and SIGTERM ask ``stop`` to end the enqueue cleanly; a second one exits
    at once (what the database has not committed is rolled back)."""

    def handle(signum: int, _frame: Any) -> None:
        if stop.is_set():
            click.echo(
                f"{signal.Signals(signum).name} again: exiting at once; rows not committed yet "
                "are rolled back, what was stored stays; run the same command again to resume",
                err=True,
            )
            os._exit(128 + signum)
        stop.request(signum)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _exit_code(stop: Any) -> int:
    """The shell's convention: 128 + the signal's number (SIGINT 130, SIGTERM 143)."""
    return 128 + (stop.signum or signal.SIGINT)


def _signal_name(stop: Any) -> str:
    return signal.Signals(stop.signum or signal.SIGINT).name


def _end_interrupted(report: Any, stop: Any, as_json: bool) -> None:
    """One line on what an interrupted enqueue stored, and how to resume; then exit."""
    if not report.job_id:
        line = f"interrupted ({_signal_name(stop)}) before any row was stored: no job made"
    else:
        stored = report.new + report.duplicate
        unqueued = (
            f", {report.unqueued} not queued (broker unreachable)" if report.unqueued else ""
        )
        line = (
            f"interrupted ({_signal_name(stop)}): job {report.job_id} is marked interrupted with "
            f"the first {report.total} rows: {stored} stored ({report.new} new, "
            f"{report.duplicate} duplicate), {report.rejected} rejected, "
            f"{report.published} queued{unqueued}; run the same command again to resume "
            "(stored rows are recognized: none is stored or labeled twice)"
        )
    if as_json:
        summary = report.as_dict()
        summary.pop("rejected_rows")
        echo_json(summary)
    click.echo(line, err=True)
    sys.exit(_exit_code(stop))


def _wait_unless_stopped(
    factory: Any, summary: dict[str, Any], stop: Any, timeout: float, as_json: bool
) -> dict[str, Any]:
    """``wait_for_job``; a signal ends the wait at once (every row is stored by now)."""
    try:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.interruptible = True
        return wait_for_job(factory, summary["job_id"], timeout=timeout, quiet=as_json)
    except KeyboardInterrupt:
        if not stop.is_set():
            raise
        _end_waiting(factory, summary, stop, as_json)
        raise  # not reached: _end_waiting exits
    finally:
        stop.interruptible = False


def _end_waiting(factory: Any, summary: dict[str, Any], stop: Any, as_json: bool) -> None:
    """Stopped while waiting on a job that holds every row: it goes on without us."""
    from newsclf.worker.results import jobs_status

    job_id = summary["job_id"]
    with factory() as session:
        [status] = jobs_status(session, job_ids=[job_id])
    if as_json:
        summary.update(status)
        echo_json(summary)
    click.echo(
        f"stopped waiting ({_signal_name(stop)}): job {job_id} holds every row and goes on "
        f"({status['status']}: {status['labeled']} labeled, {status['pending']} pending); "
        f"`newsclf status --job {job_id}` follows it",
        err=True,
    )
    sys.exit(_exit_code(stop))


def wait_for_job(
    factory: Any, job_id: int, *, timeout: float = 0, quiet: bool = False
) -> dict[str, Any]:
    """Poll a job until nothing is pending, with a progress bar; returns its status row."""
    from newsclf.schema.jobs import finish_jobs_if_done
    from newsclf.worker.results import jobs_status

    started = time.monotonic()

    def row() -> dict[str, Any]:
        with factory.begin() as session:
            finish_jobs_if_done(session, [job_id])
        with factory() as session:
            [status] = jobs_status(session, job_ids=[job_id])
            return status

    current = row()
    todo = current["labeled"] + current["failed"] + current["pending"]
    with progress_bar(todo, f"job {job_id}") as bar:
        done = 0
        # Until finished, not only until nothing is pending: a worker's last predictions
        # can commit between the finish check and the read, and the job is done next poll.
        while current["pending"] > 0 or current["status"] in ("queued", "running"):
            if timeout and time.monotonic() - started > timeout:
                from newsclf.errors import NewsclfError

                raise NewsclfError(
                    f"job {job_id} still has {current['pending']} articles pending after {timeout:.0f}s: "
                    "are workers running (`newsclf worker`)? `newsclf reconcile` re-queues lost ones"
                )
            time.sleep(0.5)
            current = row()
            now = current["labeled"] + current["failed"]
            bar.update(now - done)
            done = now
    return current
