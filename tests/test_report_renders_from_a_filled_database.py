"""``newsclf report`` on a database the pipeline filled: real articles, labeled by the
real Classifier with the tiny model, spread over days and sources. The page is
parsed: its plots are PNG images, its tables and JSON agree with SQL, and
``newsclf status`` shows the verdict it recorded."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from services import Database, bbc_rows, clone_artifact, newsclf_cmd, service_env


class Page(HTMLParser):
    """The images, tables (id: rows of cell texts) and JSON block of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.script = ""
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(str(a["src"]))
        elif tag == "table":
            self._table = str(a["id"])
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "script" and a.get("id") == "figures":
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_script:
            self.script += data


def test_the_report_page_shows_plots_and_figures_that_match_sql(
    database_url: str, tiny_artifact: Path, bbc_csv: Path,
    tmp_path: Path,
) -> None:
    url = database_url
    db = Database(url, tmp_path / "models")
    try:
        v1 = db.register(tiny_artifact)
        v2 = db.register(clone_artifact(tiny_artifact, tmp_path / "v2", "v2-report"), activate=False)
        from newsclf.shadow import start_shadow

        with db.sessions.begin() as session:
            start_shadow(session, v2)
        rows = bbc_rows(90, start=300, distinct=True)
        # Three days: two sources, then one feed of sport only (the drift).
        feeds = [("wires", rows[:30]), ("blogs", rows[30:60]),
                 ("sportdesk", [r for r in bbc_rows(400, start=400, distinct=True) if r["category"] == "sport"][:30])]
        for days_ago, (source, feed) in zip((2, 1, 0), feeds, strict=True):
            new = " zorblax" if days_ago == 0 else ""  # a word of the last day only
            ids = db.store([{"text": r["text"] + new + " quuxly", "source": source} for r in feed])
            db.classifier().classify(ids)
            db.sql_exec(
                "UPDATE articles SET ingested_at = :t WHERE source = :s",
                t=dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago), s=source,
            )
        out = tmp_path / "report.html"
        env = service_env(database_url=url, broker_url="redis://127.0.0.1:1/0",
                          models_dir=tmp_path / "models", drift_threshold="0.3")
        done = subprocess.run(newsclf_cmd("report", "--out", str(out)), env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        page = Page()
        page.feed(out.read_text())

        assert len(page.images) == 6
        for src in page.images:
            assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        figures = json.loads(page.script)
        assert figures["model_version"] == v1 and figures["shadow_version"] == v2

        # Articles per day and mean confidence per day: the page's table against SQL.
        day = "to_char(a.ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')" if "postgresql" in url \
            else "date(a.ingested_at)"
        expected = db.sql(
            f"SELECT {day}, count(*), avg(p.confidence) FROM predictions p JOIN articles a"
            f" ON a.id = p.article_id WHERE p.model_version = :v GROUP BY {day} ORDER BY 1", v=v1,
        )
        table = page.tables["days"][1:]
        assert [(r[0], int(r[1])) for r in table] == [(d, n) for d, n, _ in expected]
        assert [float(r[2]) for r in table] == pytest.approx([m for _, _, m in expected], abs=1e-4)
        # Versions in service: both wrote 90 predictions (the shadow scored every one).
        assert [(r[0], r[1], r[4]) for r in page.tables["versions"][1:]] == [
            (v1, "active", "90"), (v2, "shadow", "90")
        ]
        # Made-up words: one in every article of the last day only (newly frequent),
        # one in every article of every day (unknown, but not new).
        assert page.tables["new-words"][1] == ["zorblax", "1000.0000", "0.0000"]
        assert "quuxly" not in [r[0] for r in page.tables["new-words"][1:2]]
        # OOV rate per day: recomputed from SQL's texts with the artifact's vocabulary.
        from newsclf.trainer.artifact import read_json
        from newsclf.trainer.preprocess import Vocabulary

        vocab = Vocabulary.from_json(read_json(tiny_artifact, "vocab.json"))
        for d in figures["days"]:
            texts = [t for dd, t in db.sql(f"SELECT {day}, a.text FROM articles a") if dd == d["day"]]
            assert d["oov_rate"] == pytest.approx(vocab.oov_rate(texts))
        baseline = json.loads((tiny_artifact / "data.json").read_text())["oov_rate"]
        assert figures["training"] == {**figures["training"], "oov_rate": baseline,
                                       "oov_baseline_from": "training"}
        # Each day's label distance: recomputed from SQL's counts and the training set's.
        from newsclf.drift import js_distance

        training = json.loads((tiny_artifact / "data.json").read_text())["label_counts"]
        counts = db.sql(
            f"SELECT {day}, p.label, count(*) FROM predictions p JOIN articles a"
            f" ON a.id = p.article_id WHERE p.model_version = :v GROUP BY {day}, p.label", v=v1,
        )
        for d in figures["days"]:
            per_day = {label: n for dd, label, n in counts if dd == d["day"]}
            assert d["label_js"] == pytest.approx(js_distance(per_day, training))
            assert d["flagged"] == (d["drift_score"] > 0.3)
        sport = figures["days"][-1]
        assert figures["latest"]["day"] == sport["day"]

        status = subprocess.run(newsclf_cmd("status", "--json"), env=env, capture_output=True,
                                text=True, timeout=120)
        drift = json.loads(status.stdout.strip().splitlines()[-1])["drift"]
        assert (drift["day"], drift["flagged"]) == (sport["day"], sport["flagged"])
        assert drift["score"] == pytest.approx(sport["drift_score"])
    finally:
        db.close()
