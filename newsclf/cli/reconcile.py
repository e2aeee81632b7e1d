"""``newsclf reconcile``: re-queue what unfinished jobs still miss (the database
is the source of truth)."""

from __future__ import annotations

import click

from newsclf.cli.context import echo_json, sessions, settings


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
