"""Retraining with the promotion gate (``newsclf retrain --local`` in this process,
real PostgreSQL, real tiny trainings): who wins, why, and what data went in."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from services import TINY_RETRAIN_CONFIG, bbc_rows, write_labeled
from sqlalchemy import select

from newsclf.cli import main
from newsclf.schema.articles import upsert_articles
from newsclf.schema.db import make_engine, session_factory, upgrade
from newsclf.schema.models import ModelActivation, ModelVersion, TrainingRun
from newsclf.schema.registry import active_model_version
from newsclf.settings import Settings, get_settings


@pytest.fixture
def env(
    newsclf_env: Path, pg_url: str, bbc_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Settings for a tiny retraining on 500 BBC rows; ``set(**values)`` changes them."""
    upgrade(pg_url)
    base = write_labeled(newsclf_env / "base.csv", bbc_rows(500, start=0, distinct=True))

    def set_(**values: Any) -> None:
        for key, value in values.items():
            text = json.dumps(value) if isinstance(value, dict) else str(value)
            monkeypatch.setenv(f"NEWSCLF_{key.upper()}", text)
        get_settings.cache_clear()

    set_(database_url=pg_url, train_data=base, retrain_config=TINY_RETRAIN_CONFIG)
    return {"url": pg_url, "dir": newsclf_env, "set": set_}


def retrain_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    main(["retrain", "--local", "--json"])
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_gate_rejects_a_worse_challenger_with_its_reason_and_promotes_a_fair_one(
    env: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    first = retrain_json(capsys)
    assert (first["decision"], first["champion_version"]) == ("promoted", None)
    champion = first["challenger_version"]

    # learns nothing: no step for the BiLSTM and bag heads, and no TF-IDF head (its own SGD)
    env["set"](retrain_config={**TINY_RETRAIN_CONFIG, "learning_rate": 0.0, "tfidf_head": False})
    worse = retrain_json(capsys)
    assert (worse["decision"], worse["champion_version"]) == ("rejected", champion)
    assert "worse by more than the tolerance" in worse["reason"]
    scores = worse["metrics"]
    assert scores["challenger"]["n"] == scores["champion"]["n"] == worse["n_holdout"] > 0
    assert scores["challenger"]["accuracy"] < scores["champion"]["accuracy"] - 0.005

    env["set"](retrain_config=TINY_RETRAIN_CONFIG, promotion_tolerance=0.05)
    fair = retrain_json(capsys)
    assert (fair["decision"], fair["champion_version"]) == ("promoted", champion)

    sessions = session_factory(make_engine(env["url"]))
    with sessions() as session:
        runs = session.scalars(select(TrainingRun).order_by(TrainingRun.id)).all()
        assert [(r.status, r.decision, r.trigger) for r in runs] == [
            ("done", "promoted", "cli"),
            ("done", "rejected", "cli"),
            ("done", "promoted", "cli"),
        ]
        assert runs[1].reason == worse["reason"] and runs[1].finished_at is not None
        assert active_model_version(session).version == fair["challenger_version"]
        rejected = session.get_one(ModelVersion, worse["challenger_version"])
        assert not rejected.is_active and rejected.parent_version == champion  # kept, not served
        history = session.scalars(select(ModelActivation).order_by(ModelActivation.id)).all()
        assert [(h.version, h.by) for h in history] == [
            (champion, "retrain-gate"),
            (fair["challenger_version"], "retrain-gate"),
        ]


def test_feedback_labels_reach_the_next_training_run_and_are_counted(
    env: dict[str, Any],
    tiny_artifact: Path,
    bbc_csv: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base_texts = {r["text"] for r in bbc_rows(500, start=0, distinct=True)}
    holdout_rows = [r for r in bbc_rows(150, start=500, distinct=True) if r["text"] not in base_texts][:100]
    known = base_texts | {r["text"] for r in holdout_rows}
    env["set"](retrain_holdout=write_labeled(env["dir"] / "holdout.csv", holdout_rows))
    main(["models", "register", str(tiny_artifact)])
    new_rows = [r for r in bbc_rows(80, start=1000, distinct=True) if r["text"] not in known][:40]
    base_first = bbc_rows(1, start=0, distinct=True)[0]
    relabeled = "tech" if base_first["category"] != "tech" else "sport"
    sessions = session_factory(make_engine(env["url"]))
    with sessions.begin() as session:
        stored = upsert_articles(
            session, [{"text": r["text"]} for r in [*new_rows, base_first, holdout_rows[0]]]
        )
    ids = [article_id for article_id, _ in stored]
    labels = env["dir"] / "labels.csv"
    lines = [f"{i},{r['category']}" for i, r in zip(ids, new_rows, strict=False)]
    lines += [f"{ids[40]},{relabeled}", f"{ids[41]},{holdout_rows[0]['category']}"]
    labels.write_text("article_id,label\n" + "\n".join(lines) + "\n")
    main(["label", "--csv", str(labels)])

    run = retrain_json(capsys)
    # 40 new texts and one base text relabeled are trained on; the held-out one is not.
    assert (run["n_feedback"], run["n_base"], run["n_holdout"]) == (41, 499, 100)
    assert run["metrics"]["n_feedback_held_out"] == 1
    with sessions() as session:
        record = session.get_one(TrainingRun, run["run_id"])
        assert record.n_feedback == 41
        challenger = session.get_one(ModelVersion, run["challenger_version"])
        assert challenger.data_sha256 == record.data_sha256 == run["data_sha256"]
        assert challenger.parent_version == record.champion_version
    data = json.loads((Path(challenger.path) / "data.json").read_text())
    assert data["rows"] == 540 and data["sha256"] == run["data_sha256"]


def test_a_second_run_is_skipped_while_one_is_running_and_a_dead_one_goes_stale(
    env: dict[str, Any],
) -> None:
    from newsclf.worker.retrain import retrain

    sessions = session_factory(make_engine(env["url"]))
    with sessions.begin() as session:
        session.add(TrainingRun(trigger="beat", status="running"))
    settings = Settings()
    outcome = retrain(sessions, settings, trigger="beat")
    assert outcome.status == "skipped" and "is in progress" in outcome.reason

    with sessions.begin() as session:
        running = session.scalars(select(TrainingRun).where(TrainingRun.status == "running")).one()
        running.started_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    missing = Settings(train_data=env["dir"] / "missing.csv")
    with pytest.raises(Exception, match="missing.csv"):
        retrain(sessions, missing, trigger="cli")
    with sessions() as session:
        runs = session.scalars(select(TrainingRun).order_by(TrainingRun.id)).all()
    assert [(r.status, r.decision) for r in runs] == [
        ("failed", "failed"),
        ("skipped", None),
        ("failed", "failed"),
    ]
    assert "presumed dead" in runs[0].reason and "missing.csv" in runs[2].reason
