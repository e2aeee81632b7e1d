"""``newsclf beat``: the scheduler (periodic reconcile and retraining)."""

from __future__ import annotations

import click

from newsclf.cli.context import settings


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
