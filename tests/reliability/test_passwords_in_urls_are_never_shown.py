"""A password in NEWSCLF_DATABASE_URL or NEWSCLF_BROKER_URL never appears in any
output or log line: every command that prints a URL, and the worker (Celery's
banner and its connection errors), with the right password and a wrong one.

PostgreSQL on 127.0.0.1 trusts local connections, so a URL with any password
connects; Redis is a server of the test's own started with ``--requirepass``.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults import wait_for
from services import newsclf_cmd, service_env

from newsclf.urls import mask_secrets, mask_url

SECRET = "Pw-SECRET-7f3a"
WRONG = "Pw-WRONG-91c2"


def with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        newsclf_cmd(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def assert_no_password(result: subprocess.CompletedProcess[str] | str) -> None:
    text = result if isinstance(result, str) else result.stdout + result.stderr
    assert SECRET not in text and WRONG not in text, text[-2000:]


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[int]:
    """A Redis server of this test's own that requires ``SECRET``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", SECRET,
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline and proc.poll() is None, "redis did not start"
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://app:s3cr%40t@db/news", "postgresql+psycopg://app:***@db/news"),
        ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
        ("https://u:p@feeds.example/rss?api_key=abc&x=1", "https://u:***@feeds.example/rss?api_key=***&x=1"),
        ("postgresql://db/news?password=abc", "postgresql://db/news?password=***"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
        ("sqlite:///newsclf.db", "sqlite:///newsclf.db"),
        ("not a url", "not a url"),
    ],
)  # fmt: skip
def test_mask_url_hides_passwords_and_secret_query_values(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_mask_secrets_masks_every_url_in_free_text() -> None:
    text = "cannot reach redis://:s3cret@r:6379/0 nor postgresql://a:b@c/d?token=t (retrying)"
    assert mask_secrets(text) == (
        "cannot reach redis://:***@r:6379/0 nor postgresql://a:***@c/d?token=*** (retrying)"
    )


def test_no_command_that_prints_a_database_url_shows_its_password(
    pg_url: str, tmp_path: Path, redis_with_password: int
) -> None:
    database = with_password(pg_url, SECRET)
    broker = f"redis://:{WRONG}@127.0.0.1:{redis_with_password}/0"
    env = service_env(database_url=database, broker_url=broker, models_dir=tmp_path / "m",
                      broker_retry_s="0")  # fmt: skip
    (tmp_path / "feed.csv").write_text("text\nShares fell.\n")
    results = [
        run(env, tmp_path, "db", "current"),
        run(env, tmp_path, "db", "upgrade"),
        run(env, tmp_path, "db", "upgrade", "--database-url", with_password(pg_url, WRONG)),
        run(env, tmp_path, "db", "current", "--database-url", with_password(pg_url, WRONG)),
        run(env, tmp_path, "status"),
        run(env, tmp_path, "enqueue", "feed.csv"),  # the broker refuses the wrong password
        run(env, tmp_path, "reconcile"),
        run({**env, "NEWSCLF_DATABASE_URL": with_password(pg_url.rsplit("/", 1)[0] + "/nodb_x",
                                                          SECRET)}, tmp_path, "status"),
    ]  # fmt: skip
    assert results[1].returncode == 0 and "postgresql+psycopg://postgres:***@" in results[1].stdout
    for result in results:
        assert "Traceback" not in result.stderr, result.stderr
        assert_no_password(result)


@pytest.mark.slow
def test_train_without_a_newsclf_database_names_it_without_the_password(
    pg_url: str, tmp_path: Path, bbc_csv: Path
) -> None:
    data = tmp_path / "small.csv"
    data.write_text("".join(bbc_csv.open(encoding="utf-8").readlines()[:121]), encoding="utf-8")
    env = service_env(database_url=with_password(pg_url, SECRET), broker_url="redis://x:1/0",
                      models_dir=tmp_path / "m")  # fmt: skip
    result = run(env, tmp_path, "train", "--data", str(data), "--epochs", "1", "--vocab-size",
                 "200", "--embedding-dim", "4", "--max-length", "20")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "not registered (no newsclf database at postgresql+psycopg://postgres:***@" in (
        result.stderr
    )
    assert_no_password(result)


@pytest.mark.slow
def test_a_worker_never_logs_the_broker_or_database_password(
    pg_url: str, tmp_path: Path, redis_with_password: int, start_worker
) -> None:
    database = with_password(pg_url, SECRET)
    env = service_env(database_url=database, models_dir=tmp_path / "m",
                      broker_url=f"redis://:{SECRET}@127.0.0.1:{redis_with_password}/0")  # fmt: skip
    assert run(env, tmp_path, "db", "upgrade").returncode == 0
    good = start_worker(env)  # the banner names the transport
    assert "redis://:***@127.0.0.1" in good.log() or "redis://:**@127.0.0.1" in good.log()
    wrong = start_worker(
        {**env, "NEWSCLF_BROKER_URL": f"redis://:{WRONG}@127.0.0.1:{redis_with_password}/0"},
        ready=False,
    )
    wait_for(lambda: "Cannot connect" in wrong.log(), "the worker to report the refused login")
    assert_no_password(good.log())
    assert_no_password(wrong.log())
