"""A relabel job's progress counts the predictions of the version it was queued
for, not the ones older versions left: it moves as the new version labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from services import Database, bbc_rows, clone_artifact


class Collected:
    """A Publisher that keeps the ids it is given (the broker is not under test)."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def publish(self, article_ids: Sequence[int]) -> None:
        self.ids.extend(article_ids)


def test_a_relabel_job_is_done_only_when_the_new_version_labeled_every_article(
    database_url: str, tiny_artifact: Path, bbc_csv: Path,
    tmp_path: Path,
) -> None:
    from newsclf.schema.jobs import job_progress
    from newsclf.schema.registry import promote
    from newsclf.worker.relabel import relabel

    db = Database(database_url, tmp_path / "models")
    try:
        v1 = db.register(tiny_artifact)
        ids = db.store([{"text": r["text"], "source": "bbc"} for r in bbc_rows(20, start=0, distinct=True)])
        assert db.classifier().classify(ids).inserted == 20
        v2 = db.register(clone_artifact(tiny_artifact, tmp_path / "v2", "v2-relabel"))
        with db.sessions.begin() as session:
            promote(session, v2)

        published = Collected()
        report = relabel(sessions=db.sessions, publisher=published, settings=db.settings)
        assert (report.matched, report.model_version, sorted(published.ids)) == (20, v2, ids)

        def progress() -> tuple[int, int, str]:
            with db.sessions() as session:
                p = job_progress(session, [report.job_id])[report.job_id]
            [(status,)] = db.sql("SELECT status FROM jobs WHERE id = :j", j=report.job_id)
            return p.labeled, p.pending, status

        assert progress() == (0, 20, "running")  # v1's 20 predictions do not count
        classifier = db.classifier()
        assert classifier.classify(ids[:8]).version == v2
        assert progress() == (8, 12, "running")
        classifier.classify(ids[8:])
        assert progress() == (20, 0, "done")
        assert db.sql("SELECT model_version, count(*) FROM predictions GROUP BY model_version"
                      " ORDER BY model_version") == sorted([(v1, 20), (v2, 20)])
    finally:
        db.close()
