"""``newsclf status``: jobs and their progress, the queue, the workers seen, the
active model and drift; ``--watch`` refreshes it every second."""

from __future__ import annotations

import time
from typing import Any

import click

from newsclf.cli.context import echo_json, sessions, settings


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--limit", default=10, show_default=True, help="How many recent jobs.")
@click.option("--job", "job_id", type=int, help="Only this job, with its rejected rows and notes.")
@click.option("--watch", is_flag=True, help="Refresh every second until interrupted.")
def status(as_json: bool, limit: int, job_id: int | None, watch: bool) -> None:
    """Show jobs and their progress, queue depth, workers seen and the active model.

    \b
    Example:
      newsclf status --watch
    """
    from newsclf.cli.watch import Rates

    factory = sessions()
    rates = Rates()
    try:
        while True:
            snapshot = _snapshot(factory, limit=limit, job_id=job_id)
            if as_json:
                echo_json(snapshot)
            else:
                if watch:
                    click.clear()
                _print_status(snapshot, rates=rates.update(snapshot["jobs"]) if watch else None)
            if not watch:
                return
            time.sleep(1.0)
    except KeyboardInterrupt:  # Ctrl-C is how a watch ends: no "Aborted.", exit 0
        if not watch:
            raise


def _snapshot(factory: Any, *, limit: int, job_id: int | None) -> dict[str, Any]:
    from newsclf.errors import InputError
    from newsclf.schema.jobs import job_report
    from newsclf.worker.backpressure import held_by_job, queued_articles
    from newsclf.worker.heartbeat import read_heartbeats
    from newsclf.worker.messages import CLASSIFY_QUEUE
    from newsclf.worker.probes import broker_client
    from newsclf.worker.results import jobs_status, model_status

    with factory() as session:
        jobs = jobs_status(session, limit=limit, job_ids=None if job_id is None else [job_id])
        if job_id is not None:
            if not jobs:
                raise InputError(f"no job {job_id}: `newsclf status` lists the newest jobs")
            jobs[0]["report"] = job_report(session, job_id)
        model = model_status(session)
        drift = _drift_status(session)
    snapshot: dict[str, Any] = {"jobs": jobs, "model": model, "queue_depth": None, "workers": None}
    snapshot["drift"] = drift
    try:
        # Heartbeats, not a ping: a worker busy with a long batch answers no ping in time.
        client = broker_client(settings().broker_url)
        snapshot["queue_depth"] = int(client.llen(CLASSIFY_QUEUE))
        snapshot["queued_articles"] = queued_articles(client, task_chunk=settings().task_chunk)
        snapshot["workers"] = _workers(read_heartbeats(client))
        held = held_by_job(client)
        for job in jobs:
            job["unpublished"] = held.get(job["job_id"], 0)
    except Exception as exc:  # noqa: BLE001 - status still shows the database side
        snapshot["broker_error"] = str(exc).splitlines()[0]
    return snapshot


def _workers(heartbeats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each live worker: name, ``busy`` (for how long, with how many articles) or ``idle``."""
    now = time.time()
    return [
        {
            "name": h.get("name"),
            "state": h.get("state"),
            "busy_s": round(now - h["busy_since"], 1) if h.get("busy_since") else None,
            "articles": h.get("articles", 0),
            "model_version": h.get("model_version"),
        }
        for h in heartbeats
    ]


def _shown_worker(w: dict[str, Any]) -> str:
    if w["state"] == "busy":
        return f"{w['name']} (busy {w['busy_s']:.0f}s, {w['articles']} articles)"
    return f"{w['name']} (idle)"


def _print_status(s: dict[str, Any], rates: dict[int, float] | None = None) -> None:
    """The status table; with ``rates`` (``--watch``), a progress bar and rate per job."""
    from newsclf.cli.watch import job_progress_line

    model = s["model"]
    accuracy = model and model["accuracy"]
    click.echo(
        f"active model: {model['version']} "
        f"(accuracy {f'{accuracy:.1%}' if accuracy is not None else 'unknown'})"
        if model
        else "active model: none"
    )
    if s.get("drift"):
        click.echo(f"drift: {s['drift']['line']}")
    if "broker_error" in s:
        click.echo(f"broker: unreachable ({s['broker_error']})")
    else:
        workers = ", ".join(_shown_worker(w) for w in s["workers"]) or "none seen"
        click.echo(
            f"queue depth: {s['queue_depth']} messages (<= {s['queued_articles']} articles)"
            f"   workers: {workers}"
        )
    click.echo(
        f"{'job':>5} {'status':11} {'total':>7} {'new':>7} {'dup':>6} {'rej':>5} "
        f"{'labeled':>8} {'failed':>6} {'pending':>8}  source"
    )
    for j in s["jobs"]:
        click.echo(
            f"{j['job_id']:>5} {j['status']:11} {j['total']:>7} {j['new']:>7} {j['duplicate']:>6} {j['rejected']:>5} "
            f"{j['labeled']:>8} {j['failed']:>6} {j['pending']:>8}  {j['source']}"
        )
        if rates is not None:
            click.echo(job_progress_line(j, rates.get(j["job_id"])))
        if j.get("unpublished"):
            click.echo(
                f"      {j['unpublished']} stored articles wait for room in the queue "
                "(NEWSCLF_QUEUE_LIMIT) before they are published"
            )
        for r in (j.get("report") or {}).get("rejected", [])[:50]:
            click.echo(f"      rejected line {r['line']}: {r['reason']}")
        for n in (j.get("report") or {}).get("notes", [])[:50]:
            click.echo(f"      note: {n}")


def _drift_status(session: Any) -> dict[str, Any] | None:
    """The newest drift check (``newsclf report`` records them), with a one-line summary."""
    from newsclf.schema.monitoring import latest_drift_check

    check = latest_drift_check(session)
    if check is None:
        return None
    state = "FLAGGED" if check.flagged else "ok"
    score = f"{check.score:.3f}" if check.score is not None else "-"
    threshold = (check.detail or {}).get("threshold")
    when = check.created_at.isoformat(timespec="seconds") if check.created_at else "?"
    return {
        "flagged": check.flagged,
        "day": check.day,
        "score": check.score,
        "model_version": check.model_version,
        "checked_at": when,
        "line": f"{state} on {check.day or '-'} (score {score}, threshold {threshold};"
        f" model {check.model_version}; `newsclf report` at {when})",
    }
