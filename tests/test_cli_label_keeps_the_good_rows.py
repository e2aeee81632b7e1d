"""``newsclf label --csv``: a bad row (a digit that is not ASCII, an id too large for
the database, bytes that are not UTF-8, a NUL) is reported with its line and
reason; the good rows around it are stored. Run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from services import newsclf_cmd, service_env

from newsclf.schema.articles import upsert_articles
from newsclf.schema.db import make_engine, session_factory
from newsclf.schema.registry import register_model_version


def test_bad_label_rows_are_reported_by_line_and_the_good_ones_are_stored(
    migrated_database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(migrated_database_url)
    with session_factory(engine).begin() as session:
        [(a, _), (b, _)] = upsert_articles(session, [{"text": "one"}, {"text": "two"}])
        register_model_version(
            session, version="v1", sha256="0" * 64, path="/m", labels=["business", "sport"],
            metrics=None, config=None, accuracy=None, data_sha256=None, activate=True,
        )  # fmt: skip
    labels = tmp_path / "labels.csv"
    labels.write_bytes(
        b"article_id,label\n"
        + f"{a},business\n".encode()
        + "\u00b2,sport\n".encode()  # line 3: '²'.isdigit() is True
        + b"99999999999999999999,sport\n"  # line 4: 20 digits, over BIGINT
        + b"\xff\xfe1,sport\n"  # line 5: not UTF-8
        + f"{b},sp\xc3\xb6rt\xff\n".encode("latin-1")  # line 6: a bad byte in the label
        + b"12\x00,sport\n"  # line 7: a NUL byte
        + ("9" * 5000).encode() + b",sport\n"  # line 8: longer than int() parses
        + f"{b},sport\n".encode()  # line 9: good
    )
    env = service_env(database_url=migrated_database_url, broker_url="redis://127.0.0.1:1/0",
                      models_dir=tmp_path / "m")  # fmt: skip
    result = subprocess.run(newsclf_cmd("label", "--csv", str(labels), "--json"), env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["stored"] == 2
    assert [r["line"] for r in summary["rows"]] == [3, 4, 5, 6, 7, 8]
    reasons = [r["reason"] for r in summary["rows"]]
    assert "not a number" in reasons[0] and "out of range" in reasons[1]
    assert reasons[2].startswith("undecodable") and reasons[3].startswith("undecodable")
    assert "not a number" in reasons[4] and "out of range" in reasons[5]
    assert "rejected line 4: article_id 99999999999999999999 is out of range" in result.stderr
    with engine.connect() as conn:
        stored = dict(conn.exec_driver_sql("SELECT article_id, label FROM feedback").all())
    assert stored == {a: "business", b: "sport"}
    engine.dispose()
    one = subprocess.run(newsclf_cmd("label", "99999999999999999999", "sport"), env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert one.returncode != 0 and "no article 99999999999999999999" in one.stderr
    assert len(one.stderr.splitlines()) == 1
