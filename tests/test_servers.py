"""The suite's servers: throwaway by default, and on a server of the user's only what a
test created is touched."""

from __future__ import annotations

import psycopg
import pytest
import redis
from servers import (
    CLAIM_KEY,
    MAINTENANCE_DB,
    _start_redis,
    own_database,
    own_redis_db,
    postgres,
    redis_server,
)


def test_a_redis_database_holding_someone_elses_keys_is_never_taken_nor_flushed() -> None:
    server = _start_redis()  # stands for a user's server: its databases 1, 2 and 4 are in use
    theirs = {db: redis.Redis.from_url(f"{server}/{db}") for db in (1, 2, 4)}
    for db, client in theirs.items():
        client.set("their-key", f"value-{db}")

    with own_redis_db(server) as first, own_redis_db(server) as second:
        taken = [int(url.rsplit("/", 1)[1]) for url in (first, second)]
        for url in (first, second):
            redis.Redis.from_url(url).set("ours", "x")

    assert taken == [3, 5]
    for db, client in theirs.items():
        assert client.get("their-key") == f"value-{db}".encode()
        assert client.dbsize() == 1
    for db in taken:
        assert redis.Redis.from_url(f"{server}/{db}").dbsize() == 0  # ours, emptied


def test_a_test_database_is_made_through_the_maintenance_database_and_only_it_is_dropped() -> None:
    server = postgres()
    admin = f"{server.url}/{MAINTENANCE_DB}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('CREATE DATABASE "not_the_suites"')
    try:
        with own_database() as url:
            name = url.rsplit("/", 1)[1]
            with psycopg.connect(url) as conn:
                assert conn.execute("select current_database()").fetchone() == (name,)
        with psycopg.connect(admin) as conn:
            names = {row[0] for row in conn.execute("select datname from pg_database")}
        assert name not in names
        assert "not_the_suites" in names
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "not_the_suites"')


def test_the_suite_starts_its_own_servers_unless_told_to_use_others() -> None:
    import os

    if os.environ.get("NEWSCLF_TEST_PG") or os.environ.get("NEWSCLF_TEST_REDIS"):
        pytest.skip("NEWSCLF_TEST_PG / NEWSCLF_TEST_REDIS name the servers to use")
    server = postgres()
    assert server.owned and server.port not in (0, 5432)
    assert redis_server().rsplit(":", 1)[1] != "6379"
    with own_redis_db() as url:
        assert redis.Redis.from_url(url).get(CLAIM_KEY) is not None
