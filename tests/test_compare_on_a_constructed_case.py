"""``newsclf models compare``'s figures on predictions written by hand, where every
figure can be counted on one's fingers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from newsclf.compare import compare_versions
from newsclf.errors import InputError

A = ["sport", "sport", "tech", "business", "politics", "tech"]
A_CONF = [0.9, 0.8, 0.6, 0.7, 0.5, 0.9]
B = ["sport", "tech", "tech", "business", "sport"]  # article 6: only A scored it
B_CONF = [0.7, 0.6, 0.8, 0.9, 0.4]
GOLD = {1: "sport", 2: "tech", 3: "business", 6: "sport"}  # 6 is not compared


@pytest.fixture
def sessions(migrated_database_url: str, tmp_path: Path):
    from newsclf.schema.articles import upsert_articles
    from newsclf.schema.db import make_engine, session_factory
    from newsclf.schema.feedback import upsert_feedback
    from newsclf.schema.predictions import insert_predictions
    from newsclf.schema.registry import register_model_version

    engine = make_engine(migrated_database_url)
    factory = session_factory(engine)
    labels = ["business", "politics", "sport", "tech"]
    with factory.begin() as session:
        for v in ("A", "B"):
            register_model_version(
                session, version=v, sha256="0" * 64, path="-", labels=labels, metrics={},
                config={}, accuracy=None, data_sha256=None, activate=v == "A",
            )
        ids = [i for i, _ in upsert_articles(session, [{"text": f"t{n}"} for n in range(6)])]
        rows = [
            {"article_id": ids[k], "model_version": v, "label": lab, "confidence": c,
             "probabilities": {lab: c}}
            for v, labs, confs in (("A", A, A_CONF), ("B", B, B_CONF))
            for k, (lab, c) in enumerate(zip(labs, confs, strict=False))
        ]
        insert_predictions(session, rows)
        upsert_feedback(
            session, [{"article_id": ids[k - 1], "label": g, "source": "cli"} for k, g in GOLD.items()]
        )
        session.execute(
            text("UPDATE articles SET ingested_at = :t WHERE id = :i"),
            {"t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "i": ids[0]},
        )
    yield factory
    engine.dispose()


def test_compare_counts_agreement_confusion_feedback_accuracy_and_confidence(sessions) -> None:
    with sessions() as session:
        f = compare_versions(session, "A", "B")
    assert f["articles"] == 5
    assert f["agreement"] == pytest.approx(3 / 5)
    assert f["confusion"]["sport"] == {"business": 0, "politics": 0, "sport": 1, "tech": 1}
    assert f["confusion"]["politics"]["sport"] == 1
    assert f["confusion"]["tech"]["tech"] == 1 and f["confusion"]["business"]["business"] == 1
    assert sum(sum(row.values()) for row in f["confusion"].values()) == 5
    assert f["feedback_articles"] == 3
    assert f["accuracy_on_feedback"] == {"A": pytest.approx(1 / 3), "B": pytest.approx(2 / 3)}
    assert f["mean_confidence"] == {"A": pytest.approx(0.7), "B": pytest.approx(0.68)}


def test_compare_since_leaves_out_older_articles_and_refuses_an_unknown_version(
    sessions,
) -> None:
    with sessions() as session:
        f = compare_versions(session, "A", "B", since=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
        assert (f["articles"], f["agreement"], f["feedback_articles"]) == (4, 0.5, 2)
        with pytest.raises(InputError, match="unknown model version 'C'"):
            compare_versions(session, "A", "C")


def test_a_retraining_records_the_champions_feedback_accuracy_and_the_shadows_figures(
    sessions,
) -> None:
    from newsclf.compare import live_evidence
    from newsclf.schema.shadow import set_shadow_version

    with sessions.begin() as session:
        assert live_evidence(session, "A") == {
            "champion_feedback_articles": 4, "champion_feedback_accuracy": 0.25,
        }
        set_shadow_version(session, "B")
        shadow = live_evidence(session, "A")["shadow"]
    assert (shadow["b"], shadow["articles"], shadow["agreement"]) == ("B", 5, pytest.approx(0.6))
