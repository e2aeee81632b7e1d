"""Every third-party package the code imports is declared in pyproject.toml (keras
was imported directly but arrived only through tensorflow, with no floor of ours)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib

from services import ROOT

PACKAGES = ("newsclf", "schema", "trainer", "worker")


def imported_top_level_modules() -> set[str]:
    names: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - set(PACKAGES) - {"__future__"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_third_party_package_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {normalized(re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0])
                for d in project["dependencies"]}  # fmt: skip
    declared |= {normalized(d) + "-cpu" for d in declared} | {
        normalized(d).removesuffix("-cpu") for d in declared
    }
    provides = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(imported_top_level_modules()):
        distributions = {normalized(d) for d in provides.get(module, [module])}
        if not distributions & declared:
            missing[module] = sorted(distributions)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
