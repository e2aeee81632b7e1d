"""``newsclf train`` registers what it trains: metrics, lineage (data sha256,
config, parent = the active version) and the artifact's bytes; with no
database set up it still trains and says how to register later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from services import (
    bbc_rows,
    clone_artifact,
    last_json,
    run_cli,
    service_env,
    write_labeled,
)
from sqlalchemy import select

from newsclf.cli.registry import register_trained
from newsclf.schema.db import make_engine, session_factory, upgrade
from newsclf.schema.models import ModelBlob, ModelVersion


def test_a_trained_artifact_is_registered_with_its_lineage_and_bytes(
    pg_url: str, tiny_artifact: Path, tmp_path: Path
) -> None:
    upgrade(pg_url)
    first = register_trained(pg_url, tiny_artifact, by="alice")
    assert first is not None and first["active"] and first["parent_version"] is None
    data = json.loads((tiny_artifact / "data.json").read_text())
    assert first["data_sha256"] == data["sha256"]

    second_path = clone_artifact(tiny_artifact, tmp_path, "v2-trained")
    second = register_trained(pg_url, second_path, activate=False, by="alice")
    assert second is not None and not second["active"]
    assert second["parent_version"] == first["version"]
    with session_factory(make_engine(pg_url))() as session:
        row = session.get_one(ModelVersion, "v2-trained")
        assert row.config == json.loads((tiny_artifact / "config.json").read_text())
        blobs = sorted(session.scalars(select(ModelBlob.version)))
        assert blobs == sorted([first["version"], "v2-trained"])


def test_with_no_database_set_up_nothing_is_registered_and_no_file_is_created(
    tmp_path: Path, tiny_artifact: Path, sqlite_url: str
) -> None:
    missing = tmp_path / "nowhere.db"
    assert register_trained(f"sqlite:///{missing}", tiny_artifact) is None
    assert not missing.exists()
    make_engine(sqlite_url).connect().close()  # an empty SQLite file, never migrated
    assert register_trained(sqlite_url, tiny_artifact) is None


@pytest.mark.slow
def test_newsclf_train_registers_the_new_version_as_the_active_one(
    pg_url: str, redis_url: str, bbc_csv: Path, tmp_path: Path
) -> None:
    env = service_env(database_url=pg_url, broker_url=redis_url, models_dir=tmp_path / "models")
    assert run_cli(env, "db", "upgrade").returncode == 0
    data = write_labeled(tmp_path / "small.csv", bbc_rows(300, start=0, distinct=True))
    tiny = ["--epochs", "1", "--vocab-size", "1000", "--embedding-dim", "8", "--max-length", "60"]
    done = run_cli(env, "train", "--data", str(data), *tiny, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    trained = last_json(done.stdout)
    assert trained["registered"] and trained["active"]
    listed = last_json(run_cli(env, "models", "list", "--json").stdout)
    assert [(m["version"], m["active"]) for m in listed] == [(trained["version"], True)]
