"""Throwaway PostgreSQL and Redis servers for the test suite, and the only code that
picks which servers tests use.

By default the suite starts its own servers from the binaries on PATH (``initdb`` and
``pg_ctl``, ``redis-server``), on free ports of 127.0.0.1, with their data in a temporary
directory, and stops them when the test process exits: the user's servers are never
touched. ``NEWSCLF_TEST_PG`` (a server URL without database, e.g.
``postgresql://postgres@127.0.0.1:5432``) or ``NEWSCLF_TEST_REDIS`` (e.g.
``redis://127.0.0.1:6379``) point the suite at servers of your own instead; on those it
creates its own databases (through the ``postgres`` maintenance database) and uses only
Redis databases that are empty when it claims them, and it never stops them.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MAINTENANCE_DB = "postgres"
"""The database every PostgreSQL server has; tests connect to it to create their own."""

REDIS_DATABASES = 64
"""Logical databases of the throwaway Redis: one per test that runs at a time, and spare."""

CLAIM_KEY = "newsclf-test-claim"
"""The key a test sets (only if absent) in an empty Redis database to take it."""


class ServerUnavailable(RuntimeError):
    """A test server could be neither started nor reached."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise ServerUnavailable(f"{what} did not come up within {timeout:.0f}s")


# -- PostgreSQL ----------------------------------------------------------------------


@dataclass
class PostgresServer:
    """A PostgreSQL server the tests use: ``url`` has no database name."""

    url: str
    data_dir: Path | None = None  # set only for a server this process started
    port: int = 0

    @property
    def owned(self) -> bool:
        """Whether the suite started this server (and so may stop and restart it)."""
        return self.data_dir is not None

    def _pg_ctl(self, *args: str) -> None:
        assert self.data_dir is not None, "never stop a server the suite did not start"
        _run_as_postgres(["pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", *args])

    def stop(self) -> None:
        """Stop the server now (fast: connections are cut)."""
        self._pg_ctl("stop", "-m", "fast")

    def start(self) -> None:
        self._pg_ctl("-l", str(self.data_dir / "server.log"), "start")  # type: ignore[operator]

    def ready(self) -> bool:
        import psycopg

        try:
            psycopg.connect(f"{self.url}/{MAINTENANCE_DB}", connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True


def _run_as_postgres(command: list[str]) -> None:
    """Run a server binary; as root, as the ``postgres`` user (initdb refuses root)."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def _start_postgres() -> PostgresServer:
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        raise ServerUnavailable("initdb and pg_ctl are not on PATH; set NEWSCLF_TEST_PG")
    base = Path(tempfile.mkdtemp(prefix="newsclf-test-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    port = free_port()
    _run_as_postgres(
        ["initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
    )
    with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(
            f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{base}'\n"
            # Throwaway data: durability buys nothing here and costs the suite time.
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "max_connections = 200\n"
        )
    server = PostgresServer(url=f"postgresql://postgres@127.0.0.1:{port}", data_dir=data, port=port)
    server.start()
    _wait(server.ready, f"PostgreSQL on port {port}")

    def _remove() -> None:
        try:
            _run_as_postgres(["pg_ctl", "-D", str(data), "stop", "-m", "immediate"])
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(_remove)
    return server


@functools.cache
def postgres() -> PostgresServer:
    """The PostgreSQL server of this test run: NEWSCLF_TEST_PG's, else a throwaway one."""
    given = os.environ.get("NEWSCLF_TEST_PG")
    if given:
        return PostgresServer(url=given.rstrip("/"))
    return _start_postgres()


@contextmanager
def own_database() -> Iterator[str]:
    """A new, empty database on the test server (its URL), dropped afterwards."""
    import psycopg

    server = postgres()
    name = "newsclf_t_" + uuid.uuid4().hex[:12]
    admin = f"{server.url}/{MAINTENANCE_DB}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server.url}/{name}"
    finally:
        _wait(server.ready, "PostgreSQL (to drop a test database)", timeout=120)
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- Redis -----------------------------------------------------------------------------


def _start_redis() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable("redis-server is not on PATH; set NEWSCLF_TEST_REDIS")
    import redis

    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="newsclf-test-redis-"))
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--databases", str(REDIS_DATABASES), "--dir", str(work), "--logfile", str(work / "log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def _ping() -> bool:
        try:
            return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
        except redis.exceptions.ConnectionError:
            return False

    _wait(_ping, f"redis-server on port {port}")

    def _remove() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)

    atexit.register(_remove)
    return f"redis://127.0.0.1:{port}"


@functools.cache
def redis_server() -> str:
    """The Redis server of this test run (URL without database): NEWSCLF_TEST_REDIS's, else
    a throwaway one."""
    return os.environ.get("NEWSCLF_TEST_REDIS", "").rstrip("/") or _start_redis()


@contextmanager
def own_redis_db(server: str | None = None) -> Iterator[str]:
    """A Redis database that was empty when taken (its URL), emptied afterwards.

    The database is taken with ``SET NX`` of a claim key, so two test runs sharing a
    server never take the same one, and a database holding anyone else's keys is never
    used, let alone flushed."""
    import redis

    server = server or redis_server()
    try:
        databases = int(redis.Redis.from_url(f"{server}/0").config_get("databases")["databases"])
    except (redis.exceptions.ResponseError, KeyError):  # CONFIG disabled on that server
        databases = 16
    for db in range(1, databases):
        client = redis.Redis.from_url(f"{server}/{db}", socket_connect_timeout=3)
        if client.dbsize() == 0 and client.set(CLAIM_KEY, uuid.uuid4().hex, nx=True):
            if client.dbsize() == 1:  # nobody wrote between our check and our claim
                break
            client.delete(CLAIM_KEY)
        client.close()
    else:
        raise ServerUnavailable(f"no empty Redis database on {server}")
    try:
        yield f"{server}/{db}"
    finally:
        client.flushdb()  # only keys this test created: the database was empty
        client.close()
