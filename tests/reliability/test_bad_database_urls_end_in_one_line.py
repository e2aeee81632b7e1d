"""A malformed or unsupported database URL ends every command, and the worker, with
one line saying what is wrong and what a good URL looks like, exit 2 (no traceback,
and never the URL's password)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from services import newsclf_cmd, service_env

from newsclf.urls import check_database_url

BAD_URLS = {
    "127.0.0.1:5432/db": "not a database URL",
    "mysql://app:Pw-SECRET-1@db/news": "unsupported database 'mysql'",
    "postgresql+asyncpg://app:Pw-SECRET-1@db/news": "unsupported driver 'asyncpg'",
    "": "not a database URL",
}

COMMANDS = [
    ["status"],
    ["worker"],
    ["enqueue", "feed.csv"],
    ["db", "upgrade"],
    ["db", "current"],
    ["db", "create-readonly-role", "analyst"],
    ["models", "list"],
    ["label", "--csv", "labels.csv"],
    ["review"],
    ["reconcile"],
    ["run", "feed.csv"],
    ["query", "select 1"],
    ["train", "--data", "feed.csv"],
]


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        newsclf_cmd(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
@pytest.mark.parametrize("url", list(BAD_URLS), ids=lambda u: u or "empty")
def test_a_bad_database_url_ends_each_command_with_one_line_and_exit_2(
    tmp_path: Path, url: str, command: list[str]
) -> None:
    (tmp_path / "feed.csv").write_text("text\nShares fell.\n")
    (tmp_path / "labels.csv").write_text("article_id,label\n1,business\n")
    env = service_env(
        database_url=url, broker_url="redis://127.0.0.1:1/0", models_dir=tmp_path / "m"
    )
    result = run(env, tmp_path, *command)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: NEWSCLF_DATABASE_URL: ")
    assert BAD_URLS[url] in lines[0] and "postgresql://USER@HOST:5432/DBNAME" in lines[0]
    assert "Pw-SECRET-1" not in result.stderr + result.stdout


@pytest.mark.parametrize("url", [u for u in BAD_URLS if u])
def test_a_bad_database_url_option_is_refused_the_same_way(tmp_path: Path, url: str) -> None:
    env = service_env(
        database_url="sqlite:///x.db", broker_url="redis://127.0.0.1:1/0", models_dir=tmp_path
    )
    result = run(env, tmp_path, "db", "upgrade", "--database-url", url)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --database-url: ") and BAD_URLS[url] in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Pw-SECRET-1" not in result.stderr


def test_a_broker_address_without_a_scheme_is_refused_in_one_line(tmp_path: Path) -> None:
    env = service_env(
        database_url="sqlite:///x.db", broker_url="127.0.0.1:6379", models_dir=tmp_path
    )
    result = run(env, tmp_path, "worker")
    assert result.returncode == 2 and "NEWSCLF_BROKER_URL: not a broker URL" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app@db/news", "postgresql+psycopg://app@db/news"),
        ("postgres://app:p%40ss@db:5433/news?sslmode=require",
         "postgresql+psycopg://app:p%40ss@db:5433/news?sslmode=require"),
        ("postgresql+psycopg://app@db/news", "postgresql+psycopg://app@db/news"),
        ("sqlite:///newsclf.db", "sqlite:///newsclf.db"),
        ("sqlite://", "sqlite://"),
    ],
)  # fmt: skip
def test_good_database_urls_pass_and_plain_postgresql_means_psycopg(url: str, expected: str) -> None:
    assert check_database_url(url) == expected
