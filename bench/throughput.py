"""Throughput and latency of newsclf, side by side with the careless ways. Prints JSON.

    python bench/throughput.py [--articles 10000] [--model PATH] [--repeat 2] [--json]

Needs PostgreSQL and Redis on loopback (NEWSCLF_BENCH_PG, default
postgresql://postgres@127.0.0.1:5432; NEWSCLF_BENCH_REDIS, default
redis://127.0.0.1:6379/12) and the BBC file (NEWSCLF_BENCH_DATA, default
../shared/data/bbc-text.csv). Without --model it trains a default model first.
Each figure is articles per second on this machine unless named otherwise, the
best of ``--repeat`` runs for every throughput figure alike (the machine's
noise is about 10 %; *_runs list each end-to-end run):

- ceiling_aps / ceiling_by_batch: the worker's inference path (Predictor:
  preprocessing, length-sorted padding, compiled model), texts in memory;
- tutorial_aps: the tutorial's way, model.predict over all texts padded to 200;
- naive_aps: one Celery task per article calling model.predict and writing its row;
- e2e_aps: `newsclf enqueue` of N unique articles to the last committed row,
  one `newsclf worker` process; *_short_*: the same for RSS-like short texts;
- latency_p50_s / latency_p95_s: enqueue to committed row at a steady 20 articles/s;
- worker_peak_rss_mb; enqueue_peak_rss_mb for a 100,000-row file.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
PG = os.environ.get("NEWSCLF_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("NEWSCLF_BENCH_REDIS", "redis://127.0.0.1:6379/12")
DATA = Path(os.environ.get("NEWSCLF_BENCH_DATA", ROOT.parent / "shared" / "data" / "bbc-text.csv"))


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def bbc_texts() -> list[str]:
    """The distinct BBC texts (the file repeats some articles)."""
    from schema.store import content_sha256

    with open(DATA, newline="", encoding="utf-8") as f:
        by_key = {content_sha256(row["text"]): row["text"] for row in csv.DictReader(f)}
    return list(by_key.values())


def unique_texts(texts: list[str], n: int) -> list[str]:
    """``n`` distinct texts: the articles in turn, each copy after the first tagged."""
    return [
        t if i < len(texts) else f"{t} copy{i // len(texts)}"
        for i, t in ((i, texts[i % len(texts)]) for i in range(n))
    ]


def short_texts(texts: list[str], n: int) -> list[str]:
    """RSS-like items: the headline and the first sentence, 20-50 words."""
    out = []
    for i in range(n):
        words = texts[i % len(texts)].split()
        k = 20 + (i * 7) % 31
        out.append(" ".join(words[:k]) + (f" item{i}" if i >= len(texts) else ""))
    return out


def write_csv(path: Path, texts: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        for i, t in enumerate(texts):
            w.writerow([f"a{i}", t])


class RssSampler:
    """Peak resident memory of a process tree, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.1)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak / 2**20, 1)


def time_best(fn: Any, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure_ceiling(predictor: Any, texts: list[str], repeat: int) -> dict[str, Any]:
    predictor.predict_proba(texts[:512], batch_size=512)  # warm up the compiled function
    by_batch = {}
    for bs in (1, 32, 128, 256, 512):
        sample = texts[: 200 if bs == 1 else 2048]
        seconds = time_best(lambda s=sample, b=bs: predictor.predict_proba(s, batch_size=b), repeat)
        by_batch[str(bs)] = round(len(sample) / seconds, 1)
        log(f"ceiling batch {bs}: {by_batch[str(bs)]} articles/s")
    return by_batch


def measure_tutorial(predictor: Any, texts: list[str], repeat: int) -> float:
    from trainer.preprocess import pad

    sample = texts[:2048]

    def run() -> None:
        ids = pad(predictor.encode(sample), 200)
        predictor.model.predict(ids, verbose=0)  # Keras default batch size (32)

    run()
    return round(len(sample) / time_best(run, repeat), 1)


class Services:
    """A fresh PostgreSQL database and Redis database, migrated, with the model registered."""

    def __init__(self, model: Path, workdir: Path) -> None:
        import psycopg
        import redis

        self.db = "newsclf_bench_" + uuid.uuid4().hex[:8]
        with psycopg.connect(PG + "/test", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db}"')
        self.url = f"{PG}/{self.db}"
        self.redis = redis.Redis.from_url(REDIS)
        self.redis.flushdb()
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSCLF_")}
        self.env.update(
            NEWSCLF_DATABASE_URL=self.url,
            NEWSCLF_BROKER_URL=REDIS,
            NEWSCLF_MODELS_DIR=str(workdir / "models"),
            TF_CPP_MIN_LOG_LEVEL="3",
            PYTHONUNBUFFERED="1",
        )
        self.cli("db", "upgrade")
        self.cli("models", "register", str(model))
        from schema.db import make_engine, session_factory

        self.engine = make_engine(self.url)
        self.sessions = session_factory(self.engine)

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [str(BIN / "newsclf"), *args], env=self.env, capture_output=True, text=True
        )
        if out.returncode:
            raise SystemExit(f"newsclf {' '.join(args)} failed: {out.stderr.strip()[-2000:]}")
        return out.stdout

    def count(self) -> int:
        from sqlalchemy import func, select

        from schema.models import Prediction

        with self.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(Prediction)) or 0)

    def start(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        logf = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        return subprocess.Popen(argv, env=self.env, stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT)

    def wait_ready(self, name: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in (self.workdir / f"{name}.log").read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise SystemExit(f"{name} not ready; see {self.workdir / name}.log")

    def close(self) -> None:
        import psycopg

        self.engine.dispose()
        self.redis.flushdb()
        with psycopg.connect(PG + "/test", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')


def wait_for_count(svc: Services, target: int, timeout: float) -> float:
    """Seconds until ``target`` predictions are committed, polled every 50 ms (each poll
    is a count over the predictions table: polling faster takes CPU from what is measured)."""
    start = time.perf_counter()
    while svc.count() < target:
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"only {svc.count()} of {target} predictions after {timeout}s")
        time.sleep(0.05)
    return time.perf_counter() - start


def measure_naive(svc: Services, texts: list[str], n: int) -> float:
    from schema.store import content_sha256, upsert_articles

    with svc.sessions.begin() as s:
        ids = [
            i
            for i, _ in upsert_articles(
                s,
                [
                    {"text": t, "source": "naive", "content_sha256": content_sha256(t)}
                    for t in texts[:n]
                ],
            )
        ]
    proc = svc.start(
        [
            str(BIN / "celery"),
            "-A",
            "bench.naive_worker",
            "worker",
            "--pool",
            "solo",
            "-Q",
            "naive",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        "naive",
    )
    try:
        svc.wait_ready("naive")
        from celery import Celery

        naive_app = Celery("naive", broker=REDIS)
        naive_app.conf.update(task_serializer="json", accept_content=["json"])
        base = svc.count()
        start = time.perf_counter()
        with naive_app.producer_or_acquire() as producer:
            for i in ids:
                naive_app.send_task("naive.classify", args=[i], queue="naive", producer=producer)
        wait_for_count(svc, base + len(ids), timeout=600)
        return round(len(ids) / (time.perf_counter() - start), 2)
    finally:
        proc.terminate()
        proc.wait(30)


def measure_e2e(svc: Services, texts: list[str], name: str, repeat: int) -> list[float]:
    """Articles/s of each of ``repeat`` runs, each on articles never seen before (the
    texts tagged with the run's number), so that nothing is deduplicated away."""
    runs = []
    for r in range(repeat):
        path = svc.workdir / f"{name}{r}.csv"
        write_csv(path, [f"{t} run{r}" for t in texts] if r else texts)
        base = svc.count()
        start = time.perf_counter()
        svc.cli("enqueue", str(path), "--source", f"{name}{r}")
        wait_for_count(svc, base + len(texts), timeout=1800)
        seconds = time.perf_counter() - start
        log(f"{name} run {r + 1}: {len(texts)} articles in {seconds:.2f}s")
        runs.append(round(len(texts) / seconds, 1))
    return runs


def measure_latency(svc: Services, texts: list[str], rate: float = 20.0) -> dict[str, float]:
    """Feed one article at a time at ``rate``/s; time each until its row is visible."""
    from sqlalchemy import select

    from newsclf.settings import Settings
    from schema.models import Article, Prediction
    from worker.app import make_app
    from worker.enqueue import enqueue_feeds
    from worker.publish import CeleryPublisher

    settings = Settings(database_url=svc.url, broker_url=REDIS)
    app = make_app(settings)
    files = []
    for i, t in enumerate(texts):
        f = svc.workdir / f"item{i}.jsonl"
        f.write_text(json.dumps({"id": f"live{i}", "text": t}) + "\n")
        files.append(f)
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set() or len(seen) < len(files):
            pending = [k for k in sent if k not in seen]
            if pending:
                with svc.sessions() as s:
                    rows = (
                        s.execute(
                            select(Article.external_id)
                            .join(Prediction, Prediction.article_id == Article.id)
                            .where(Article.external_id.in_(pending))
                        )
                        .scalars()
                        .all()
                    )
                now = time.perf_counter()
                for k in rows:
                    seen.setdefault(k, now)
            time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    with CeleryPublisher(app) as publisher:
        start = time.perf_counter()
        for i, f in enumerate(files):
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            sent[f"live{i}"] = time.perf_counter()
            enqueue_feeds(
                [str(f)],
                sessions=svc.sessions,
                publisher=publisher,
                settings=settings,
                source_name="live",
            )
    done.set()
    poller.join(120)
    missing = [k for k in sent if k not in seen]
    if missing:
        raise SystemExit(f"{len(missing)} live articles never labeled, e.g. {missing[:3]}")
    lat = np.array([seen[k] - sent[k] for k in sent])
    return {
        "latency_p50_s": round(float(np.percentile(lat, 50)), 3),
        "latency_p95_s": round(float(np.percentile(lat, 95)), 3),
        "latency_max_s": round(float(lat.max()), 3),
        "latency_articles": len(lat),
    }


def measure_enqueue_rss(svc: Services, texts: list[str], rows: int) -> float:
    path = svc.workdir / "big.csv"
    write_csv(path, unique_texts(texts, rows))
    proc = subprocess.Popen(
        [str(BIN / "newsclf"), "enqueue", str(path), "--source", "big"],
        env=svc.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sampler = RssSampler(proc.pid)
    proc.wait()
    peak = sampler.stop()
    if proc.returncode:
        raise SystemExit("enqueue of the 100,000-row file failed")
    path.unlink()
    return peak


def train_default(workdir: Path) -> Path:
    log("no --model: training a default model on the BBC file")
    out = subprocess.run(
        [
            str(BIN / "newsclf"),
            "train",
            "--data",
            str(DATA),
            "--models-dir",
            str(workdir / "trained"),
            "--json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if out.returncode:
        raise SystemExit(f"training failed: {out.stderr[-2000:]}")
    return Path(json.loads(out.stdout.strip().splitlines()[-1])["path"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--model", type=Path, help="artifact directory (default: train one)")
    parser.add_argument("--naive", type=int, default=300, help="articles for the naive service")
    parser.add_argument("--latency-articles", type=int, default=200)
    parser.add_argument("--enqueue-rows", type=int, default=100_000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="runs of each throughput figure; the best is reported (default 2)",
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args()

    from trainer.predictor import Predictor

    with tempfile.TemporaryDirectory(prefix="newsclf-bench-") as tmp:
        workdir = Path(tmp)
        model = args.model or train_default(workdir)
        base = bbc_texts()
        long_texts = unique_texts(base, args.articles)
        shorts = short_texts(base, args.articles)
        result: dict[str, Any] = {
            "articles": args.articles,
            "model": str(model),
            "cpus": os.cpu_count(),
        }

        predictor = Predictor.load(model)
        result["model_version"] = predictor.version
        by_batch = measure_ceiling(predictor, long_texts, args.repeat)
        result["ceiling_by_batch"] = by_batch
        result["ceiling_aps"] = max(by_batch.values())
        result["ceiling_short_aps"] = round(
            len(shorts[:4096])
            / time_best(
                lambda: predictor.predict_proba(shorts[:4096], batch_size=512), args.repeat
            ),
            1,
        )
        result["tutorial_aps"] = measure_tutorial(predictor, long_texts, args.repeat)
        log(f"ceiling {result['ceiling_aps']}, short {result['ceiling_short_aps']}")
        log(f"tutorial {result['tutorial_aps']}")

        svc = Services(model, workdir)
        try:
            result["naive_aps"] = measure_naive(svc, [f"{t} naive" for t in base], args.naive)
            log(f"naive {result['naive_aps']}")
            worker = svc.start([str(BIN / "newsclf"), "worker", "-Q", "classify"], "worker")
            sampler = RssSampler(worker.pid)
            try:
                svc.wait_ready("worker")
                result["e2e_runs"] = measure_e2e(svc, long_texts, "e2e", args.repeat)
                result["e2e_aps"] = max(result["e2e_runs"])
                result["e2e_short_runs"] = measure_e2e(svc, shorts, "e2e_short", args.repeat)
                result["e2e_short_aps"] = max(result["e2e_short_runs"])
                live = [
                    f"{t} live{i}"
                    for i, t in enumerate(short_texts(base[::-1], args.latency_articles))
                ]
                result.update(measure_latency(svc, live))
            finally:
                worker.terminate()
                worker.wait(60)
                result["worker_peak_rss_mb"] = sampler.stop()
            result["enqueue_peak_rss_mb"] = measure_enqueue_rss(svc, base, args.enqueue_rows)
            result["enqueue_rows"] = args.enqueue_rows
        finally:
            svc.close()

    c, e = result["ceiling_aps"], result["e2e_aps"]
    result["ratios"] = {
        "e2e_over_ceiling": round(e / c, 3),
        "e2e_over_tutorial": round(e / result["tutorial_aps"], 2),
        "e2e_over_naive": round(e / result["naive_aps"], 1),
        "e2e_short_over_e2e": round(result["e2e_short_aps"] / e, 2),
    }
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
