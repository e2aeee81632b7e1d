"""``newsclf worker``: a Celery worker that labels queued articles."""

from __future__ import annotations

import os
import sys

import click

from newsclf.cli.context import settings


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
