"""``newsclf review --strategy`` on a set built by hand: each strategy's first
picks, ``diverse`` leaving near duplicates out, and the strategy recorded with
the label an editor gives afterwards."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from newsclf.feedback import add_label, import_labels_csv, review

LABELS = ["business", "politics", "sport", "tech"]

UNCERTAIN = {
    # name: (probabilities in LABELS order, source, text)
    "lowest": ([0.29, 0.27, 0.27, 0.17], "paper", "budget vote parliament tax"),
    "flat": ([0.30, 0.25, 0.25, 0.20], "paper", "minister shares market cinema"),
    "torn": ([0.01, 0.01, 0.495, 0.485], "blog", "console game football league"),
    "sure": ([0.55, 0.15, 0.15, 0.15], "wire", "profits rose quarter bank"),
}
STORY = "striker scored twice cup final crowd cheered club manager praised late winner"


def _probabilities(values: list[float]) -> dict[str, float]:
    return dict(zip(LABELS, values, strict=True))


@pytest.fixture
def sessions(migrated_database_url: str, tmp_path: Path):
    from newsclf.schema.articles import upsert_articles
    from newsclf.schema.db import make_engine, session_factory
    from newsclf.schema.predictions import insert_predictions
    from newsclf.schema.registry import register_model_version

    engine = make_engine(migrated_database_url)
    factory = session_factory(engine)
    with factory.begin() as session:
        register_model_version(
            session, version="v1", sha256="0" * 64, path="-", labels=LABELS, metrics={},
            config={}, accuracy=None, data_sha256=None,
        )
        texts = {name: (source, body) for name, (_, source, body) in UNCERTAIN.items()}
        # Six copies of one wire story (a word changed each), in the middle by confidence.
        texts.update({f"dup{i}": ("wire", f"{STORY} {'x' * (i + 1)}") for i in range(6)})
        names = list(texts)
        ids = dict(zip(names, (i for i, _ in upsert_articles(
            session, [{"text": body, "source": source} for source, body in texts.values()]
        )), strict=True))
        probs = {name: _probabilities(p) for name, (p, _, _) in UNCERTAIN.items()}
        probs.update({f"dup{i}": _probabilities([0.1, 0.1, 0.45 + i / 1000, 0.35 - i / 1000])
                      for i in range(6)})
        insert_predictions(session, [
            {"article_id": ids[n], "model_version": "v1", "label": max(p, key=p.get),
             "confidence": max(p.values()), "probabilities": p}
            for n, p in probs.items()
        ])
        session.execute(  # "lowest" arrived a day before the rest
            text("UPDATE articles SET ingested_at = :t WHERE id = :i"),
            {"t": dt.datetime.now(dt.UTC) - dt.timedelta(days=1), "i": ids["lowest"]},
        )
    factory.ids = ids
    yield factory
    engine.dispose()


def _names(sessions, strategy: str, limit: int) -> list[str]:
    by_id = {i: n for n, i in sessions.ids.items()}
    with sessions.begin() as session:
        rows = review(session, threshold=0.6, limit=limit, strategy=strategy)
    assert {r["strategy"] for r in rows} <= {strategy}
    return [by_id[r["article_id"]] for r in rows]


def test_each_strategy_puts_its_own_kind_of_doubt_first(sessions) -> None:
    assert _names(sessions, "confidence", 3) == ["lowest", "flat", "dup0"]
    assert _names(sessions, "margin", 1) == ["torn"]  # 0.495 against 0.485
    assert _names(sessions, "entropy", 1) == ["flat"]  # the most even spread


def test_diverse_spreads_over_sources_days_and_labels_and_skips_near_duplicates(
    sessions,
) -> None:
    by_id = {i: n for n, i in sessions.ids.items()}
    with sessions.begin() as session:
        by_confidence = review(session, threshold=0.5, limit=4, strategy="confidence")
        diverse = review(session, threshold=0.5, limit=4, strategy="diverse")
    assert [by_id[r["article_id"]] for r in by_confidence] == ["lowest", "flat", "dup0", "dup1"]
    # lowest (paper, yesterday, business); dup0 shares none of those; torn (blog,
    # sport) only the day; flat before dup1, which also repeats dup0's words.
    assert [by_id[r["article_id"]] for r in diverse] == ["lowest", "dup0", "torn", "flat"]


def test_a_label_records_the_strategy_that_showed_the_article(sessions, tmp_path: Path) -> None:
    ids = sessions.ids
    _names(sessions, "margin", 1)  # shows "torn"
    _names(sessions, "entropy", 1)  # shows "flat"
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text(f"article_id,label\n{ids['flat']},business\n{ids['sure']},business\n")
    with sessions.begin() as session:
        add_label(session, ids["torn"], "sport")
        add_label(session, ids["dup3"], "sport")  # never shown by review
        assert import_labels_csv(session, csv_file).stored == 2
    with sessions() as session:
        rows = dict(session.execute(text("SELECT article_id, strategy FROM feedback")).all())
    assert rows == {ids["torn"]: "margin", ids["dup3"]: None, ids["flat"]: "entropy",
                    ids["sure"]: None}


def test_an_unknown_strategy_is_one_clear_error(sessions) -> None:
    from newsclf.errors import InputError

    with sessions() as session, pytest.raises(InputError, match="unknown review strategy"):
        review(session, threshold=0.6, limit=3, strategy="random")


def test_diverse_takes_one_of_near_duplicates_even_where_nothing_else_differs() -> None:
    from newsclf.sampling import pick

    same = {"source": "wire", "day": "2026-11-29", "label": "sport", "probabilities": {}}
    candidates = [{**same, "article_id": i, "text": f"{STORY} {'x' * (i + 1)}"} for i in range(3)]
    candidates.append({**same, "article_id": 9, "text": "election results parliament seats"})
    assert [c["article_id"] for c in pick(candidates, "diverse", limit=2)] == [0, 9]
    assert [c["article_id"] for c in pick(candidates, "confidence", limit=2)] == [0, 1]
