"""The single-machine mode and the CLI's errors, as a user meets them."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
from services import newsclf_cmd, service_env

CLOSED = "127.0.0.1:6399"  # nothing listens here: "server down"


def cli(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        newsclf_cmd(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode != 0
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and not _tf_noise(ln)]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _tf_noise(line: str) -> bool:
    return line.startswith(("I0000", "W0000", "E0000", "WARNING: All log messages"))


def test_run_labels_a_thousand_articles_with_no_redis_and_no_postgresql(
    tiny_artifact: Path, bbc_csv: Path, tmp_path: Path
) -> None:
    env = service_env(
        database_url=f"sqlite:///{tmp_path / 'news.db'}",
        broker_url=f"redis://{CLOSED}/0",
        models_dir=tmp_path / "models",
    )
    assert cli(env, "db", "upgrade").returncode == 0
    assert cli(env, "models", "register", str(tiny_artifact)).returncode == 0
    feed = tmp_path / "feed.csv"
    with open(bbc_csv, newline="") as src, open(feed, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text"])
        for i, row in enumerate(csv.DictReader(src)):
            writer.writerow([f"{row['text']} item{i}"])
            if i == 999:
                break
    done = cli(env, "run", str(feed), "--json")
    assert done.returncode == 0, done.stderr
    import json

    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["new"] == 1000 and summary["failed"] == 0
    assert sum(summary["labels"].values()) == 1000

    import sqlite3

    with sqlite3.connect(tmp_path / "news.db") as db:
        assert (
            db.execute("select count(*) from article_labels where label is not null").fetchone()[0]
            == 1000
        )

    # The query it suggests is the README's, and it runs as printed.
    import shlex

    from services import ROOT

    assert summary["query_hint"] in (ROOT / "README.md").read_text(encoding="utf-8")
    program, *args = shlex.split(summary["query_hint"])
    assert program == "newsclf"
    shown = cli(env, *args)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].split() == ["title", "label", "confidence"]
    assert len(shown.stdout.splitlines()) == 21


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return service_env(
        database_url=f"sqlite:///{tmp_path / 'news.db'}",
        broker_url=f"redis://{CLOSED}/0",
        models_dir=tmp_path / "models",
    )


def test_a_missing_feed_is_one_line_and_a_non_zero_exit(
    env: dict[str, str], tmp_path: Path
) -> None:
    cli(env, "db", "upgrade")
    assert_one_line_error(cli(env, "enqueue", str(tmp_path / "nope.csv")), "nope.csv")
    assert_one_line_error(cli(env, "run", str(tmp_path / "nope.csv")), "nope.csv")


def test_a_database_that_is_down_is_one_line_with_the_fix(env: dict[str, str]) -> None:
    env = {**env, "NEWSCLF_DATABASE_URL": f"postgresql://postgres@{CLOSED}/x"}
    for args in (("status",), ("db", "upgrade"), ("models", "list")):
        assert_one_line_error(cli(env, *args), "NEWSCLF_DATABASE_URL")


def test_enqueue_before_any_model_says_to_train_first(env: dict[str, str], tmp_path: Path) -> None:
    cli(env, "db", "upgrade")
    feed = tmp_path / "f.csv"
    feed.write_text("text\nshares fell on the stock market today\n")
    assert_one_line_error(cli(env, "enqueue", str(feed)), "newsclf train")


def test_an_unknown_model_version_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    cli(env, "db", "upgrade")
    assert_one_line_error(cli(env, "models", "promote", "no-such-version"), "no-such-version")
    assert_one_line_error(cli(env, "models", "show", "no-such-version"), "no-such-version")
    feed = tmp_path / "t.csv"
    feed.write_text("category,text\nbusiness,shares fell\n")
    assert_one_line_error(cli(env, "evaluate", "--model", "no-such-version", "--data", str(feed)))


def test_a_database_without_tables_says_to_upgrade(env: dict[str, str]) -> None:
    assert_one_line_error(cli(env, "status"), "newsclf db upgrade")
