"""The ``newsclf`` command: a thin click group over the library.

Subcommands live in modules of this package and are imported only when run,
so ``newsclf --help`` does not pay for TensorFlow. Errors a user can cause end
as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any

import click

from newsclf.lifetime import lives_until_exit

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, attribute), help shown in `newsclf --help`
    "train": ("newsclf.cli.train", "train"),
    "evaluate": ("newsclf.cli.train", "evaluate"),
    "db": ("newsclf.cli.db", "db"),
    "enqueue": ("newsclf.cli.enqueue", "enqueue"),
    "worker": ("newsclf.cli.worker", "worker"),
    "status": ("newsclf.cli.status", "status"),
    "results": ("newsclf.cli.results", "results"),
    "models": ("newsclf.cli.models", "models"),
    "run": ("newsclf.cli.run", "run"),
    "query": ("newsclf.cli.query", "query"),
    "reconcile": ("newsclf.cli.reconcile", "reconcile"),
    "beat": ("newsclf.cli.beat", "beat"),
    "label": ("newsclf.cli.feedback", "label"),
    "review": ("newsclf.cli.feedback", "review"),
    "relabel": ("newsclf.cli.feedback", "relabel"),
    "retrain": ("newsclf.cli.feedback", "retrain"),
    "health": ("newsclf.cli.ops", "health"),
    "report": ("newsclf.cli.report", "report"),
}


_OWN_PROCESS = False
"""True in the ``newsclf`` console script (``entry``), False when ``main`` is called in-process."""


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        if not _OWN_PROCESS:
            command = getattr(importlib.import_module(module), attr)
        else:  # SQLAlchemy, pydantic, ...: built once, kept until exit
            with lives_until_exit():
                command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="newsclf")
def cli() -> None:
    """Label news articles by topic, with probabilities, in a SQL database.

    \b
    Example:
      newsclf run feed.csv            # train if needed, label, summarize (SQLite)
      newsclf enqueue feed.rss --wait # distributed mode: Redis + workers
    """


def entry() -> Any:
    """The ``newsclf`` console script: ``main`` in a process of its own.

    The garbage collector leaves alone what lives until exit: the imported modules
    (frozen once imported, see ``LazyGroup``) and, at the end, everything, so the
    process exits without a last full collection (the OS takes the memory back;
    the commands commit or roll back their transactions before they return): a
    short command spends less of its time collecting objects it will never free.
    """
    global _OWN_PROCESS
    _OWN_PROCESS = True
    try:
        return main()
    finally:
        gc.freeze()


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI and turn user errors into one line and an exit code."""
    from newsclf.cli.translate import translate
    from newsclf.urls import mask_secrets

    try:
        return cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the boundary where errors become one line
        error = translate(exc)
        if error is None:
            raise
        click.echo(f"error: {mask_secrets(str(error))}", err=True)
        sys.exit(error.exit_code)
