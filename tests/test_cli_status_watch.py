"""``newsclf status --watch``: a progress bar and a rate per job, refreshed until Ctrl-C,
which ends the watch quietly."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from services import newsclf_cmd, service_env

from newsclf.cli.watch import Rates, job_progress_line, progress_bar
from newsclf.schema.articles import upsert_articles
from newsclf.schema.db import make_engine, session_factory, upgrade
from newsclf.schema.job_lines import add_job_articles
from newsclf.schema.jobs import create_job, set_job_counts
from newsclf.schema.predictions import insert_predictions
from newsclf.schema.registry import register_model_version


def job(job_id: int, labeled: int, failed: int = 0, total: int = 10) -> dict[str, int]:
    return {"job_id": job_id, "labeled": labeled, "failed": failed, "total": total}


def test_the_bar_fills_with_labeled_and_failed_articles() -> None:
    assert progress_bar(0, 10, width=10) == "[..........]   0%"
    assert progress_bar(5, 10, width=10) == "[#####.....]  50%"
    assert progress_bar(10, 10, width=10) == "[##########] 100%"
    assert progress_bar(0, 0, width=10) == "[..........]   0%"
    assert progress_bar(12, 10, width=10) == "[##########] 100%"


def test_the_rate_is_what_a_job_gained_between_two_refreshes() -> None:
    rates = Rates()
    assert rates.update([job(1, 0), job(2, 5)], now=100.0) == {}
    assert rates.update([job(1, 40, failed=10), job(2, 5)], now=102.0) == {1: 25.0, 2: 0.0}
    assert rates.update([job(1, 50, failed=10)], now=104.0) == {1: 5.0}
    line = job_progress_line(job(1, 5, total=10), 1234.4)
    assert line.endswith(" 50%  1,234 articles/s")
    assert "articles/s" not in job_progress_line(job(1, 5), None)


def test_watch_draws_each_jobs_bar_and_ctrl_c_ends_it_with_exit_0(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'news.db'}"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    with sessions.begin() as session:
        register_model_version(
            session, version="v1", sha256="0" * 64, path="/models/v1", labels=["sport", "tech"],
            metrics={}, config={}, accuracy=0.9, data_sha256="1" * 64, activate=True,
        )
        new_job = create_job(session, source="feed", model_version="v1")
        stored = upsert_articles(session, [{"text": f"article {i}"} for i in range(4)])
        add_job_articles(session, new_job.id, [(aid, i + 1) for i, (aid, _) in enumerate(stored)])
        set_job_counts(session, new_job.id, new=4, duplicate=0, rejected=0)
        insert_predictions(session, [
            {"article_id": aid, "model_version": "v1", "label": "sport", "confidence": 1.0,
             "probabilities": {"sport": 1.0, "tech": 0.0}, "batch_id": "b"}
            for aid, _ in stored[:2]
        ])
    env = service_env(database_url=url, broker_url="redis://127.0.0.1:1/0", models_dir=tmp_path)
    watch = subprocess.Popen(
        newsclf_cmd("status", "--watch"), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    time.sleep(8)  # the CLI's start, then a few refreshes
    watch.send_signal(signal.SIGINT)
    out, err = watch.communicate(timeout=60)
    assert watch.returncode == 0, err
    assert "Traceback" not in err and "Aborted" not in err
    bars = [line for line in out.splitlines() if line.strip().startswith("[")]
    assert bars and all(line.strip().startswith("[" + "#" * 15 + "." * 15 + "]  50%")
                        for line in bars)
    assert any(line.endswith("0 articles/s") for line in bars)  # from the second refresh
