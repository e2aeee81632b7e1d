"""Operating commands: ``newsclf health``, for hosts without HTTP probes."""

from __future__ import annotations

import sys

import click

from newsclf.cli.context import settings


@click.command()
@click.option(
    "--port",
    type=int,
    default=None,
    help="Also ask the worker (or beat) on this local port: its /readyz must answer 200.",
)
@click.option("--timeout", type=float, default=3.0, show_default=True, help="Seconds per check.")
def health(port: int | None, timeout: float) -> None:
    """Check that newsclf can work here: one line, exit 0 (healthy) or 1.

    Checks that the database answers and has newsclf's tables and an active
    model, and that the broker (Redis) answers PING; with --port, also that the
    process serving that port on this host says it is ready (/readyz: model
    loaded and warm, database and broker reachable from it).

    \b
    Example:
      newsclf health && echo up
      newsclf health --port 9464     # this host's worker is ready too
    """
    from newsclf.cli.context import sessions
    from newsclf.errors import NewsclfError
    from newsclf.schema.health import database_problem
    from newsclf.worker.probes import broker_client, one_line

    config = settings()
    problem = None
    try:
        with sessions()() as session:
            problem = database_problem(session=session, needs_model=True)
    except NewsclfError as exc:  # said for users already
        problem = str(exc).splitlines()[0]
    except Exception as exc:  # noqa: BLE001 - the reason is the output
        problem = one_line(exc)
    if problem:
        _unhealthy(f"database: {problem}")
    try:
        broker_client(config.broker_url).ping()
    except Exception as exc:  # noqa: BLE001
        _unhealthy(f"broker: {one_line(exc)}")
    if port is not None:
        import urllib.error
        import urllib.request

        url = f"http://127.0.0.1:{port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - loopback
                said = reply.read().decode(errors="replace").strip()
        except urllib.error.HTTPError as exc:
            _unhealthy(f"{url}: {exc.code} {exc.read().decode(errors='replace').strip()}")
        except OSError as exc:
            _unhealthy(f"{url}: {one_line(exc)}")
        click.echo(f"healthy: database, broker; port {port}: {said}")
        return
    click.echo("healthy: database (tables, active model), broker")


def _unhealthy(line: str) -> None:
    click.echo(f"unhealthy: {line}")
    sys.exit(1)
