"""The registry, feedback and review commands, run in-process on PostgreSQL and SQLite:
versions with their bytes, activation history and rollback, gold labels, review."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from services import clone_artifact, last_json, run_cli, service_env
from sqlalchemy import select

from newsclf.cli import main
from newsclf.schema.articles import upsert_articles
from newsclf.schema.db import make_engine, session_factory
from newsclf.schema.models import Feedback, ModelActivation, ModelBlob
from newsclf.schema.predictions import insert_predictions
from newsclf.settings import get_settings

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    newsclf_env: Path,
    migrated_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    """``cli(*args) -> (exit code, stdout, stderr)``: ``newsclf`` in this process."""
    monkeypatch.setenv("NEWSCLF_DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("NEWSCLF_USER", "tester")
    get_settings.cache_clear()

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def two_versions(tiny_artifact: Path, tmp_path: Path, cli: Cli) -> tuple[str, str]:
    """The tiny model registered (active), then a clone of it registered inactive."""
    v1 = json.loads((tiny_artifact / "MANIFEST.json").read_text())["version"]
    v2 = clone_artifact(tiny_artifact, tmp_path / "elsewhere", "v2-clone").name
    assert cli("models", "register", str(tiny_artifact))[0] == 0
    code, _, err = cli("models", "register", str(tmp_path / "elsewhere" / v2), "--no-activate")
    assert code == 0, err
    return v1, v2


def _json(cli: Cli, *args: str) -> Any:
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_registering_stores_the_artifact_bytes_and_promote_and_rollback_are_in_the_history(
    two_versions: tuple[str, str], cli: Cli, migrated_database_url: str
) -> None:
    from newsclf.trainer.artifact import verify_artifact
    from newsclf.trainer.blobs import pack_artifact

    v1, v2 = two_versions
    listed = _json(cli, "models", "list")
    assert {r["version"]: r["active"] for r in listed} == {v1: True, v2: False}
    assert all({"version", "active", "created_at", "accuracy"} <= set(r) for r in listed)

    assert _json(cli, "models", "promote", v2, "--reason", "try it")["version"] == v2
    assert _json(cli, "models", "rollback")["version"] == v1
    history = _json(cli, "models", "history")
    assert [(h["version"], h["by"]) for h in history] == [
        (v1, "rollback"),
        (v2, "tester"),
        (v1, "tester"),
    ]
    assert history[0]["deactivated_at"] is None
    assert all(h["deactivated_at"] for h in history[1:])
    assert _json(cli, "models", "rollback")["version"] == v2  # the one active before v1

    shown = _json(cli, "models", "show", v1)
    assert shown["blob_bytes"] > 0 and shown["parent_version"] is None
    assert _json(cli, "models", "show", v2)["parent_version"] == v1
    with session_factory(make_engine(migrated_database_url))() as session:
        blob = session.get_one(ModelBlob, v1)
        assert blob.data == pack_artifact(Path(shown["path"]), verify_artifact(shown["path"]))  # deterministic bytes
        assert session.query(ModelActivation).count() == 4


def test_rollback_with_no_earlier_version_and_promoting_an_unknown_one_are_one_line_errors(
    tiny_artifact: Path, cli: Cli
) -> None:
    assert cli("models", "register", str(tiny_artifact))[0] == 0
    code, out, err = cli("models", "rollback")
    assert code != 0 and "nothing to roll back" in err and "Traceback" not in err
    code, _, err = cli("models", "promote", "no-such-version")
    assert code != 0 and "unknown model version" in err


def test_a_fetched_blob_is_verified_and_a_corrupted_one_is_refused_until_mended(
    two_versions: tuple[str, str], cli: Cli, migrated_database_url: str, tmp_path: Path
) -> None:
    from newsclf.errors import ArtifactError, NoModelError
    from newsclf.settings import Settings
    from newsclf.trainer.artifact import artifact_sha256, verify_artifact
    from newsclf.worker.active_model import ActiveModel
    from newsclf.worker.artifacts import fetch_artifact

    v1, v2 = two_versions
    sessions = session_factory(make_engine(migrated_database_url))
    with sessions() as session:
        path = fetch_artifact(session, v1, tmp_path / "cache")
    assert path == tmp_path / "cache" / v1 and verify_artifact(path)["version"] == v1
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]

    with sessions.begin() as session:  # flip one byte of v2's stored artifact
        blob = session.get_one(ModelBlob, v2)
        blob.data = blob.data[:1000] + bytes([blob.data[1000] ^ 1]) + blob.data[1001:]
    with sessions() as session, pytest.raises(ArtifactError, match="corrupted"):
        fetch_artifact(session, v2, tmp_path / "cache")
    assert not (tmp_path / "cache" / v2).exists()
    assert cli("models", "promote", v2)[0] == 0
    settings = Settings(database_url=migrated_database_url, models_dir=tmp_path / "worker")
    with pytest.raises(NoModelError, match=f"active model {v2} cannot be loaded.*corrupted"):
        ActiveModel(sessions, settings).current()

    # Registering the same artifact again stores good bytes: the version loads.
    assert cli("models", "register", str(tmp_path / "elsewhere" / v2))[0] == 0
    predictor = ActiveModel(sessions, settings).current()
    assert predictor.version == v2
    assert artifact_sha256(tmp_path / "worker" / v2) == _json(cli, "models", "show", v2)["sha256"]


def _articles_with_predictions(migrated_database_url: str, version: str, n: int) -> list[int]:
    """``n`` articles, each predicted by ``version`` with confidence 0.31, 0.36, ..."""
    sessions = session_factory(make_engine(migrated_database_url))
    with sessions.begin() as session:
        ids = [a for a, _ in upsert_articles(session, [{"text": f"text {i}"} for i in range(n)])]
        rows = []
        for i, article_id in enumerate(ids):
            confidence = 0.31 + 0.05 * i
            rows.append(
                {
                    "article_id": article_id,
                    "model_version": version,
                    "label": "sport",
                    "confidence": confidence,
                    "probabilities": {"sport": confidence},
                    "batch_id": "b",
                }
            )
        insert_predictions(session, rows)
    return ids


def test_labels_are_checked_one_per_article_and_review_lists_the_least_confident_unlabeled(
    two_versions: tuple[str, str], cli: Cli, migrated_database_url: str, tmp_path: Path
) -> None:
    v1, _ = two_versions
    ids = _articles_with_predictions(migrated_database_url, v1, 8)  # confidences 0.31 .. 0.66

    review = _json(cli, "review", "--limit", "3")
    assert [r["article_id"] for r in review] == ids[:3]
    assert cli("label", str(ids[0]), "sport")[0] == 0
    assert cli("label", str(ids[0]), "tech")[0] == 0  # the last label wins
    code, _, err = cli("label", str(ids[1]), "astrology")
    assert code != 0 and "unknown label 'astrology'" in err and len(err.splitlines()) == 1
    code, _, err = cli("label", "999999", "sport")
    assert code != 0 and "no article 999999" in err

    labels = tmp_path / "labels.csv"
    labels.write_text(
        "article_id,label\n"
        f"{ids[1]},business\n"
        "x,sport\n"
        f"{ids[2]},astrology\n"
        "999999,sport\n"
        f"{ids[3]},politics\n"
    )
    code, out, err = cli("label", "--csv", str(labels), "--json")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["stored"], summary["rejected"]) == (2, 3)
    assert [r["line"] for r in summary["rows"]] == [3, 4, 5]
    assert "rejected line 4: unknown label 'astrology'" in err

    with session_factory(make_engine(migrated_database_url))() as session:
        stored = {f.article_id: (f.label, f.source) for f in session.scalars(select(Feedback))}
    assert stored == {
        ids[0]: ("tech", "cli"),
        ids[1]: ("business", "csv"),
        ids[3]: ("politics", "csv"),
    }
    # Labeled articles leave the review list; 0.6 (the default threshold) cuts it off.
    review = _json(cli, "review")
    assert [r["article_id"] for r in review] == [ids[2], ids[4], ids[5]]
    assert all(r["confidence"] < 0.6 for r in review)


def _queued_ids(redis_url: str) -> list[int]:
    """Article ids in the Celery messages waiting on the ``classify`` queue."""
    import base64

    import redis

    ids: list[int] = []
    for raw in redis.Redis.from_url(redis_url).lrange("classify", 0, -1):
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        ids += body[1]["article_ids"]
    return sorted(ids)


def test_relabel_queues_the_matching_articles_the_active_model_has_not_labeled(
    two_versions: tuple[str, str],
    cli: Cli,
    migrated_database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    import datetime as dt

    # A subprocess: the Celery app binds its broker when first imported.
    env = service_env(database_url=migrated_database_url, broker_url=redis_url, models_dir=tmp_path / "m")

    def relabel(*args: str) -> dict[str, Any]:
        done = run_cli(env, "relabel", *args, "--json")
        assert done.returncode == 0, done.stderr
        return dict(last_json(done.stdout))

    v1, v2 = two_versions
    march, may = dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    sessions = session_factory(make_engine(migrated_database_url))
    with sessions.begin() as session:
        stored = upsert_articles(
            session,
            [
                {"text": "old bbc", "source": "bbc", "published_at": march},
                {"text": "new bbc", "source": "bbc", "published_at": may},
                {"text": "new cnn", "source": "cnn", "published_at": may},
                {"text": "undated bbc", "source": "bbc"},  # no date: ingested now, after April
            ],
        )
        old, new, cnn, undated = (article_id for article_id, _ in stored)
        insert_predictions(  # v1 labeled "new bbc"; v1 becomes active again below
            session,
            [
                {
                    "article_id": new,
                    "model_version": v1,
                    "label": "sport",
                    "confidence": 0.9,
                    "probabilities": {"sport": 0.9},
                    "batch_id": "b",
                }
            ],
        )

    report = relabel("--since", "2026-04-01", "--source", "bbc")
    assert (report["matched"], report["published"], report["model_version"]) == (2, 1, v1)
    assert _queued_ids(redis_url) == [undated]  # "new bbc" already has v1's label

    assert cli("models", "promote", v2)[0] == 0
    everything = relabel()
    assert (everything["matched"], everything["published"]) == (4, 4)
    assert _queued_ids(redis_url) == sorted([undated, old, new, cnn, undated])
    bad = run_cli(env, "relabel", "--since", "yesterday")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
