"""The console script keeps the garbage collector off what lives until exit; ``main``
called in-process (tests, embedding programs) leaves the collector as it found it."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from newsclf import cli

PROBE = """
import gc, sys
from newsclf import cli
sys.argv = ["newsclf", *sys.argv[1:]]
try:
    code = cli.{function}()
except SystemExit as exc:
    code = exc.code
print(code or 0, len(gc.get_objects()), gc.isenabled())
"""


def _probe(function: str, *args: str) -> tuple[int, int, bool]:
    """``(exit code, objects the collector still tracks, collector on)`` after the call."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(function=function), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    code, tracked, enabled = out.stdout.split()[-3:]
    return int(code), int(tracked), enabled == "True"


IMPORT_PROBE = """
import gc, sys
from newsclf import cli
cli._OWN_PROCESS = {own}  # what entry() sets
command = cli.cli.get_command(None, "enqueue")
import sqlalchemy.orm
tracked = {{id(o) for o in gc.get_objects()}}
frozen = [id(command.callback) not in tracked, id(sqlalchemy.orm.Session.__init__) not in tracked]
print(gc.get_freeze_count() > 0, *frozen, gc.isenabled())
"""


def _import_probe(own_process: bool) -> list[bool]:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE.format(own=own_process)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return [word == "True" for word in out.stdout.split()[-4:]]


def test_a_command_imported_by_the_console_script_is_frozen_out_of_the_collector() -> None:
    # The command's function and the libraries it imported are out of every later
    # collection; the collector stays on for what the command itself allocates.
    assert _import_probe(own_process=True) == [True, True, True, True]
    # In-process (tests, embedding programs) nothing is frozen.
    assert _import_probe(own_process=False) == [False, False, False, True]


def test_the_console_script_freezes_everything_at_the_end_and_keeps_the_collector_on() -> None:
    code, tracked, enabled = _probe("entry", "enqueue", "--help")
    assert code == 0 and enabled
    # main() freezes nothing: everything imported is still tracked at exit. After
    # entry() a last collection would find next to nothing left to look at.
    main_code, main_tracked, _ = _probe("main", "enqueue", "--help")
    assert main_code == 0
    assert tracked * 100 < main_tracked, (tracked, main_tracked)


def test_the_console_script_exits_2_on_a_usage_error_as_main_does() -> None:
    code, _, _ = _probe("entry", "enqueue")  # no feed given: a usage error
    assert code == 2


def test_main_called_in_process_leaves_the_collector_alone(capsys: pytest.CaptureFixture) -> None:
    before = gc.get_freeze_count()
    with pytest.raises(SystemExit) as exc:
        cli.main(["enqueue"])
    assert exc.value.code == 2
    assert gc.get_freeze_count() == before and gc.isenabled()
    assert "Missing argument" in capsys.readouterr().err
