"""``newsclf query``: read-only SQL on either database, printed without sqlite3 or psql."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from services import newsclf_cmd, service_env
from sqlalchemy import text

from newsclf.schema.db import make_engine


@pytest.fixture
def env(migrated_database_url: str, tmp_path: Path) -> dict[str, str]:
    url = migrated_database_url
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into articles (text, title, source, content_sha256) values "
                "(:text, :title, 'wires', :sha)"
            ),
            [{"text": "one", "title": "50% up", "sha": "a"}, {"text": "two", "title": "b", "sha": "b"}],
        )
    engine.dispose()
    return service_env(database_url=url, broker_url="redis://127.0.0.1:1/0", models_dir=tmp_path)


def query(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(newsclf_cmd("query", *args), env=env, capture_output=True, text=True,
                          timeout=120)


def test_rows_come_back_as_a_table_csv_or_json(env: dict[str, str]) -> None:
    sql = "select title, source from articles where title like '50%' order by id"
    table = query(env, sql)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines() == ["title   source", "50% up  wires"]
    as_csv = query(env, sql, "--format", "csv")
    assert as_csv.stdout.splitlines() == ["title,source", "50% up,wires"]
    as_json = query(env, sql, "--format", "json")
    assert json.loads(as_json.stdout) == [{"title": "50% up", "source": "wires"}]


def test_a_limit_cuts_the_rows_and_says_so(env: dict[str, str]) -> None:
    done = query(env, "select id from articles order by id", "--limit", "1", "--format", "csv")
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 2
    assert "only the first 1 rows" in done.stderr


@pytest.mark.parametrize(
    "sql", ["delete from articles", "drop table articles", "update articles set text = 'x'"]
)
def test_a_statement_that_writes_is_refused_in_one_line_and_changes_nothing(
    env: dict[str, str], sql: str
) -> None:
    done = query(env, sql)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: query refused: ") and done.stderr.count("\n") == 1
    assert query(env, "select count(*) as n from articles").stdout.splitlines()[1] == "2"


def test_a_statement_with_a_syntax_error_is_one_line(env: dict[str, str]) -> None:
    done = query(env, "selec 1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: query refused: ")
