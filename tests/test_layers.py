"""The layers hold: only schema/ builds SQL, worker/ never imports the CLI, and a
long module says at its top why it is long.

Read from the source with ``ast`` (nothing is imported), so a breach fails here
whatever the code path that would have run it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from services import ROOT

PACKAGES = ("newsclf", "schema", "trainer", "worker")
"""The folders installed as newsclf, newsclf.schema, newsclf.trainer, newsclf.worker."""

ALLOWED_SQLALCHEMY = {
    "sqlalchemy.exc": None,  # every exception: translated at the boundaries
    "sqlalchemy.orm": {"Session", "sessionmaker"},  # the types of what is passed in
    "sqlalchemy.engine": {"make_url"},  # a URL shown without its password
}
"""What a module outside schema/ may import from SQLAlchemy (None: anything)."""

MAX_LINES = 350
LONG_MARKER = "Long because"
"""A module over ``MAX_LINES`` lines says why in a docstring line starting so."""


def _modules(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[str, str | None, int]]:
    """``(module, name, line)`` of each import in ``path``; ``name`` is None for ``import x``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                yield node.module, alias.name, node.lineno


def _where(path: Path) -> str:
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def sql_imports(path: Path) -> list[str]:
    """The imports of ``path`` that bring in SQLAlchemy's query constructs."""
    found = []
    for module, name, line in _imports(path):
        if module != "sqlalchemy" and not module.startswith("sqlalchemy."):
            continue
        # `from sqlalchemy import orm` reaches sqlalchemy.orm: judged as that module
        if name is not None and module == "sqlalchemy" and f"sqlalchemy.{name}" in ALLOWED_SQLALCHEMY:
            continue
        allowed = ALLOWED_SQLALCHEMY.get(module, set())
        if module in ALLOWED_SQLALCHEMY and (allowed is None or name in allowed):
            continue
        if name is None and module in ALLOWED_SQLALCHEMY:  # import sqlalchemy.exc
            continue
        found.append(f"{_where(path)}:{line}: {module}" + (f".{name}" if name else ""))
    return found


def cli_imports(path: Path) -> list[str]:
    """The imports of ``path`` that reach the CLI package (newsclf.cli)."""
    found = []
    for module, name, line in _imports(path):
        if module == "newsclf.cli" or module.startswith("newsclf.cli."):
            found.append(f"{_where(path)}:{line}: {module}")
        elif module == "newsclf" and name == "cli":
            found.append(f"{_where(path)}:{line}: newsclf.cli")
    return found


def unexplained_length(path: Path) -> str | None:
    """``path`` if it is over ``MAX_LINES`` lines and its docstring gives no reason."""
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    if lines <= MAX_LINES:
        return None
    docstring = ast.get_docstring(ast.parse(text)) or ""
    if any(line.startswith(LONG_MARKER) for line in docstring.splitlines()):
        return None
    return f"{_where(path)}: {lines} lines, no '{LONG_MARKER} ...' in its docstring"


def test_no_module_outside_schema_imports_query_constructs() -> None:
    found = [f for p in _modules("newsclf", "trainer", "worker") for f in sql_imports(p)]
    assert not found, "queries belong in schema/:\n" + "\n".join(found)


def test_no_worker_module_imports_the_cli() -> None:
    found = [f for p in _modules("worker") for f in cli_imports(p)]
    assert not found, "worker/ is below the CLI:\n" + "\n".join(found)


def test_every_long_module_says_why_at_its_top() -> None:
    found = [f for p in _modules(*PACKAGES) if (f := unexplained_length(p))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("from sqlalchemy import select\n", True),
        ("from sqlalchemy import exists, or_\n", True),
        ("import sqlalchemy as sa\n", True),
        ("from sqlalchemy.dialects.postgresql import insert\n", True),
        ("from sqlalchemy.sql import text\n", True),
        ("from sqlalchemy.orm import Session, sessionmaker\n", False),
        ("from sqlalchemy.orm import aliased\n", True),
        ("import sqlalchemy.exc\n", False),
        ("from sqlalchemy.exc import IntegrityError\n", False),
        ("from sqlalchemy import exc\n", False),
        ("from newsclf.schema.jobs import job_progress\n", False),
    ],
)
def test_the_sql_check_tells_query_constructs_from_session_types(
    tmp_path: Path, source: str, caught: bool
) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert bool(sql_imports(path)) is caught


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("from newsclf.cli.context import Context\n", True),
        ("import newsclf.cli\n", True),
        ("from newsclf import cli\n", True),
        ("from newsclf.errors import InputError\n", False),
    ],
)
def test_the_cli_check_finds_every_spelling(tmp_path: Path, source: str, caught: bool) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert bool(cli_imports(path)) is caught


def test_the_length_check_wants_the_reason_in_the_docstring(tmp_path: Path) -> None:
    body = "x = 1\n" * MAX_LINES
    bare, told = tmp_path / "bare.py", tmp_path / "told.py"
    bare.write_text('"""A module."""\n' + body)
    told.write_text(f'"""A module.\n\n{LONG_MARKER} it must be.\n"""\n' + body)
    assert unexplained_length(bare) is not None
    assert unexplained_length(told) is None
