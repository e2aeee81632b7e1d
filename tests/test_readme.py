"""README.md is the user's way in: its quickstart works literally, and it lists
every setting and every command the project really has."""

from __future__ import annotations

import ast
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import click
import pytest
from services import BBC_CSV, ROOT

from newsclf.cli import COMMANDS, cli
from newsclf.settings import Settings

README = (ROOT / "README.md").read_text(encoding="utf-8")


def quickstart_commands() -> list[str]:
    """The two commands of the Quickstart section, as written."""
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [b.strip() for b in blocks[:2]]


def test_the_readme_documents_every_setting() -> None:
    for name in Settings.model_fields:
        assert f"NEWSCLF_{name.upper()}" in README, (
            f"README does not document NEWSCLF_{name.upper()}"
        )


def test_the_readme_lists_every_command() -> None:
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        subs = command.commands if isinstance(command, click.Group) else {"": command}
        for sub in subs:
            assert f"`newsclf {name}{' ' + sub if sub else ''}`" in README, f"newsclf {name} {sub}"


def test_every_command_has_help_with_an_example() -> None:
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        commands = command.commands.values() if isinstance(command, click.Group) else [command]
        for c in commands:
            text = c.get_help(click.Context(c, info_name=c.name))
            example = text.split("Example:", 1)[1] if "Example:" in text else ""
            assert f"newsclf {name}" in example, f"`newsclf {name} {c.name} --help` shows no example"


def test_the_benchmarked_per_day_query_is_the_readmes() -> None:
    """``bench/figures.py`` times the README's per-day example as printed there."""
    tree = ast.parse((ROOT / "bench" / "figures.py").read_text(encoding="utf-8"))
    query = next(
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and getattr(node.targets[0], "id", None) == "PER_DAY_QUERY"
        and isinstance(node.value, ast.Constant)
    )
    assert f"-- Label counts per day and source\n{query};\n" in README


def test_the_quickstart_is_two_commands_naming_real_files() -> None:
    install, label = quickstart_commands()
    assert "pip install" in install and "pytest" in install
    assert "newsclf run" in label
    for path in re.findall(r"(?:examples|\.\./shared)/\S+", label):
        assert (ROOT / path).exists(), path


@pytest.mark.slow
def test_a_new_user_following_the_quickstart_gets_labeled_articles(tmp_path: Path) -> None:
    """Copy the repository as a fresh clone would have it, next to the data it
    names, create a new virtual environment and run the README's two commands
    literally. Only the environment narrows the first command's test run
    (PYTEST_ADDOPTS) so that CI does not run the whole suite twice."""
    if not BBC_CSV.exists():
        pytest.fail(f"BBC data not found at {BBC_CSV}")
    clone = tmp_path / "main"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    for rel in tracked.stdout.splitlines():
        if (ROOT / rel).is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, clone / rel)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    os.symlink(BBC_CSV, tmp_path / "shared" / "data" / "bbc-text.csv")

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NEWSCLF_", "VIRTUAL_ENV", "PYTEST"))
    }
    env["PYTEST_ADDOPTS"] = "-q -p no:cacheprovider -k 'stop_words or compose or readme_documents'"
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    install, label = quickstart_commands()
    for command, timeout in ((install, 1500), (label, 900)):
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "articles" in done.stdout and "query them" in done.stdout

    with sqlite3.connect(clone / "newsclf.db") as db:
        labeled = db.execute(
            "select count(*) from article_labels where label is not null"
        ).fetchone()[0]
        items = (ROOT / "examples" / "headlines.rss").read_text().count("<item>")
        assert labeled == items
        probs = db.execute("select probabilities from predictions").fetchall()
        assert len(probs) == items
