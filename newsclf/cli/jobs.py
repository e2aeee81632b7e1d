"""Distributed-mode commands: enqueue feeds, run workers, watch jobs, export results."""

from __future__ import annotations

import contextlib
import csv
import json
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


@click.command()
@click.option(
    "--queues", "-Q", default="classify,train", show_default=True, help="Queues to consume."
)
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option(
    "--hostname", "-n", default=None, help="Worker name (default: newsclf@HOST with the pid)."
)
@click.option(
    "--beat", is_flag=True, help="Also run the beat scheduler in this process (one per deployment)."
)
def worker(queues: str, loglevel: str, hostname: str | None, beat: bool) -> None:
    """Run a worker: load the active model, label queued articles in padded batches.

    \b
    Example:
      NEWSCLF_DATABASE_URL=postgresql://app@db/news newsclf worker
    Same as: celery -A newsclf.worker.app worker --pool solo -Q classify,train
    """
    import os
    import sys

    from newsclf.worker.app import app

    argv = [
        "worker",
        "--pool",
        "solo",
        "-Q",
        queues,
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    argv += ["-n", hostname or f"newsclf-{os.getpid()}@%h"]
    if settings().log_format == "json":  # no banner: every line of the log is JSON
        argv.insert(0, "--quiet")
    if beat:
        argv.append("--beat")
    # app.worker_main(argv), but keeping the worker's exit code (worker_main drops it):
    # 1 on a database without tables, for one.
    from celery.bin.celery import celery as celery_command

    celery_command.params[0].default = app
    try:
        code = celery_command.main(args=argv, standalone_mode=False)
    finally:
        celery_command.params[0].default = None
    if code:
        sys.exit(code)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--limit", default=10, show_default=True, help="How many recent jobs.")
@click.option("--job", "job_id", type=int, help="Only this job, with its rejected rows and notes.")
@click.option("--watch", is_flag=True, help="Refresh every second until interrupted.")
def status(as_json: bool, limit: int, job_id: int | None, watch: bool) -> None:
    """Show jobs and their progress, queue depth, workers seen and the active model.

    \b
    Example:
      newsclf status --watch
    """
    from newsclf.cli.watch import Rates

    factory = sessions()
    rates = Rates()
    try:
        while True:
            snapshot = _snapshot(factory, limit=limit, job_id=job_id)
            if as_json:
                echo_json(snapshot)
            else:
                if watch:
                    click.clear()
                _print_status(snapshot, rates=rates.update(snapshot["jobs"]) if watch else None)
            if not watch:
                return
            time.sleep(1.0)
    except KeyboardInterrupt:  # Ctrl-C is how a watch ends: no "Aborted.", exit 0
        if not watch:
            raise




def _snapshot(factory: Any, *, limit: int, job_id: int | None) -> dict[str, Any]:
    from newsclf.errors import InputError
    from newsclf.report import drift_status
    from newsclf.schema.jobs import job_report
    from newsclf.worker.backpressure import held_by_job, queued_articles
    from newsclf.worker.heartbeat import read_heartbeats
    from newsclf.worker.messages import CLASSIFY_QUEUE
    from newsclf.worker.probes import broker_client
    from newsclf.worker.results import jobs_status, model_status

    with factory() as session:
        jobs = jobs_status(session, limit=limit, job_ids=None if job_id is None else [job_id])
        if job_id is not None:
            if not jobs:
                raise InputError(f"no job {job_id}: `newsclf status` lists the newest jobs")
            jobs[0]["report"] = job_report(session, job_id)
        model = model_status(session)
        drift = drift_status(session)
    snapshot: dict[str, Any] = {"jobs": jobs, "model": model, "queue_depth": None, "workers": None}
    snapshot["drift"] = drift
    try:
        # Heartbeats, not a ping: a worker busy with a long batch answers no ping in time.
        client = broker_client(settings().broker_url)
        snapshot["queue_depth"] = int(client.llen(CLASSIFY_QUEUE))
        snapshot["queued_articles"] = queued_articles(client, task_chunk=settings().task_chunk)
        snapshot["workers"] = _workers(read_heartbeats(client))
        held = held_by_job(client)
        for job in jobs:
            job["unpublished"] = held.get(job["job_id"], 0)
    except Exception as exc:  # noqa: BLE001 - status still shows the database side
        snapshot["broker_error"] = str(exc).splitlines()[0]
    return snapshot


def _workers(heartbeats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each live worker: name, ``busy`` (for how long, with how many articles) or ``idle``."""
    now = time.time()
    return [
        {
            "name": h.get("name"),
            "state": h.get("state"),
            "busy_s": round(now - h["busy_since"], 1) if h.get("busy_since") else None,
            "articles": h.get("articles", 0),
            "model_version": h.get("model_version"),
        }
        for h in heartbeats
    ]


def _shown_worker(w: dict[str, Any]) -> str:
    if w["state"] == "busy":
        return f"{w['name']} (busy {w['busy_s']:.0f}s, {w['articles']} articles)"
    return f"{w['name']} (idle)"


def _print_status(s: dict[str, Any], rates: dict[int, float] | None = None) -> None:
    """The status table; with ``rates`` (``--watch``), a progress bar and rate per job."""
    from newsclf.cli.watch import job_progress_line

    model = s["model"]
    accuracy = model and model["accuracy"]
    click.echo(
        f"active model: {model['version']} "
        f"(accuracy {f'{accuracy:.1%}' if accuracy is not None else 'unknown'})"
        if model
        else "active model: none"
    )
    if s.get("drift"):
        click.echo(f"drift: {s['drift']['line']}")
    if "broker_error" in s:
        click.echo(f"broker: unreachable ({s['broker_error']})")
    else:
        workers = ", ".join(_shown_worker(w) for w in s["workers"]) or "none seen"
        click.echo(
            f"queue depth: {s['queue_depth']} messages (<= {s['queued_articles']} articles)"
            f"   workers: {workers}"
        )
    click.echo(
        f"{'job':>5} {'status':11} {'total':>7} {'new':>7} {'dup':>6} {'rej':>5} "
        f"{'labeled':>8} {'failed':>6} {'pending':>8}  source"
    )
    for j in s["jobs"]:
        click.echo(
            f"{j['job_id']:>5} {j['status']:11} {j['total']:>7} {j['new']:>7} {j['duplicate']:>6} {j['rejected']:>5} "
            f"{j['labeled']:>8} {j['failed']:>6} {j['pending']:>8}  {j['source']}"
        )
        if rates is not None:
            click.echo(job_progress_line(j, rates.get(j["job_id"])))
        if j.get("unpublished"):
            click.echo(
                f"      {j['unpublished']} stored articles wait for room in the queue "
                "(NEWSCLF_QUEUE_LIMIT) before they are published"
            )
        for r in (j.get("report") or {}).get("rejected", [])[:50]:
            click.echo(f"      rejected line {r['line']}: {r['reason']}")
        for n in (j.get("report") or {}).get("notes", [])[:50]:
            click.echo(f"      note: {n}")


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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def reconcile(as_json: bool) -> None:
    """Re-queue every article of an unfinished job that has no label and is not in flight.

    The database is the source of truth: run this after Redis lost messages
    (beat also runs it every NEWSCLF_RECONCILE_EVERY_S seconds).

    \b
    Example:
      newsclf reconcile
    """
    from newsclf.worker.app import app
    from newsclf.worker.backpressure import has_room, held_by_job
    from newsclf.worker.publish import CeleryPublisher
    from newsclf.worker.reconcile import in_flight_ids
    from newsclf.worker.reconcile import reconcile as run_reconcile

    factory = sessions()
    with app.connection_for_read() as conn:
        in_flight = in_flight_ids(conn.default_channel.client)
        held = held_by_job(conn.default_channel.client)  # their enqueue publishes them
    with CeleryPublisher(app) as publisher:
        report = run_reconcile(
            sessions=factory,
            publisher=publisher,
            in_flight=in_flight,
            has_room=has_room(settings()),
            held=held,
        )
    if as_json:
        echo_json(report.__dict__)
    else:
        click.echo(
            f"{len(report.jobs)} unfinished jobs; re-queued {report.republished} articles "
            f"({report.in_flight} in flight); finished jobs {report.finished or 'none'}"
        )
        if report.held_back:
            click.echo(
                f"{report.held_back} more held back: the queue is at NEWSCLF_QUEUE_LIMIT "
                "(the next reconcile publishes them)"
            )


@click.command()
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option("--schedule-file", default=None, help="Where beat keeps its state (default: in models dir).")
def beat(loglevel: str, schedule_file: str | None) -> None:
    """Run the scheduler: periodic reconcile and, when configured, retraining.

    Run exactly one per deployment. Retraining is off unless
    NEWSCLF_RETRAIN_EVERY_S or NEWSCLF_RETRAIN_CRONTAB is set.

    \b
    Example:
      NEWSCLF_RETRAIN_CRONTAB="0 3 * * 1" newsclf beat
    """
    from newsclf.worker.app import app
    from newsclf.worker.probes import serve_beat_probes

    serve_beat_probes(settings())
    path = schedule_file or str(settings().models_dir / "celerybeat-schedule")
    settings().models_dir.mkdir(parents=True, exist_ok=True)
    # JSON logs: no banner, so every line is one object.
    app.Beat(loglevel=loglevel, schedule=path, quiet=settings().log_format == "json").run()
