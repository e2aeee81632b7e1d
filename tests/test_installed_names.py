"""newsclf installs one top-level import name, its own: the schema/, trainer/ and
worker/ folders are the packages newsclf.schema, newsclf.trainer and
newsclf.worker. So PyPI's ``schema`` (or any package named worker or trainer)
installs beside newsclf and neither shadows the other; and no code of the
project imports the bare names, which would load a second copy of a module."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from services import ROOT

BARE = ("schema", "trainer", "worker")
CODE = ("newsclf", "schema", "trainer", "worker", "tests", "bench")


def _python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_installed_distribution_declares_newsclf_as_its_only_top_level_name(
    tmp_path: Path,
) -> None:
    # Outside the repository, so that only what is installed is seen.
    code = "import importlib.metadata as m; print(m.distribution('newsclf').read_text('top_level.txt'))"
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["newsclf"]


def test_a_package_named_schema_installed_beside_newsclf_leaves_both_importable(
    tmp_path: Path,
) -> None:
    other = tmp_path / "site" / "schema"  # what `pip install schema` puts on the path
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("class Schema:\n    pass\n")
    code = (
        "import importlib.util, schema\n"
        "from newsclf.schema.models import Article\n"
        "from newsclf.schema.db import head_revision\n"
        "import newsclf.trainer.artifact, newsclf.worker.app\n"
        "print(hasattr(schema, 'Schema'), Article.__tablename__, head_revision() is not None,\n"
        "      importlib.util.find_spec('trainer') is None, importlib.util.find_spec('worker') is None)"
    )
    done = _python(code, tmp_path, PYTHONPATH=str(tmp_path / "site"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "articles", "True", "True", "True"]


def test_no_module_imports_the_bare_package_names() -> None:
    bare = []
    for folder in CODE:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                bare += [
                    f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                    for name in names
                    if name.split(".")[0] in BARE
                ]
    assert not bare, bare
