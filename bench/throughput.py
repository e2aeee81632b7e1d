"""Throughput and latency of newsclf, side by side with the careless ways. Prints JSON.

    python bench/throughput.py [--articles 10000] [--model PATH] [--repeat 2] [--json]
                               [--only drain,ceiling,cli_start,export,...]

Needs PostgreSQL and Redis on loopback (NEWSCLF_BENCH_PG, default
postgresql://postgres@127.0.0.1:5432; NEWSCLF_BENCH_REDIS, default
redis://127.0.0.1:6379/12) and the BBC file (NEWSCLF_BENCH_DATA, default
../shared/data/bbc-text.csv). Without --model it trains a default model first.
Each figure is articles per second on this machine unless named otherwise. The
throughput figures are measured in ``--repeat`` rounds (every figure once per
round, so a slow spell of the machine weighs on all alike; its noise is about
10 %), each reported as its best round; *_runs list each end-to-end run:

- ceiling_aps / ceiling_by_batch: the worker's inference path (Predictor:
  preprocessing, length-sorted padding, compiled model), texts in memory;
- tutorial_aps: the tutorial's way, model.predict over all texts padded to 200;
- naive_aps: one Celery task per article calling model.predict and writing its row;
- e2e_aps: `newsclf enqueue` of N unique articles to the last committed row,
  one `newsclf worker` process; *_short_*: the same for RSS-like short texts;
- e2e_cpu_s / e2e_short_cpu_s: where the cores' time went in the fastest run
  (core-seconds: the worker's TensorFlow threads, its Python threads, enqueue,
  every other process such as PostgreSQL, and idle);
- drain_aps: N articles stored and queued by `newsclf enqueue` before a fresh
  worker starts, then drained by it; measured in the database, from the start of
  its first prediction write to the start of its last (``figures.drain_window``:
  every row but the first write's, over that window; drain_window details it);
  drain_short_aps: the same for the short texts;
- e2e_first_s / e2e_short_first_s: in the fastest end-to-end run, seconds from the
  `newsclf enqueue` command's start to the first committed prediction (the CLI's
  start, the first stored chunk, the worker's first merge and model batch);
- e2e_bound_aps / e2e_short_bound_aps: N / (e2e_first_s + N / drain_aps), and the
  same with the short figures: what e2e would be if the worker labeled at its drain
  rate from its first row on, with enqueue costing it nothing: the most this
  service's shape allows on this machine;
- latency_p50_s / latency_p95_s: enqueue to committed row at a steady 20 articles/s;
- worker_peak_rss_mb; enqueue_peak_rss_mb for a 100,000-row file;
- cli_start_s: median wall time of `newsclf models list` and `newsclf status`
  on the empty database (the model registered, no article yet);
- export_rows_per_s: `newsclf results --job` of a job of --export-rows short
  articles, labeled by the worker, to a CSV file: rows over the command's wall
  time (its start included; export_s is that time).

``--only`` measures some figures only (names in FIGURES); ratios need both sides
(``--only drain,ceiling`` for drain_vs_ceiling).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
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
    from newsclf.schema.articles import content_sha256

    with open(DATA, newline="", encoding="utf-8") as f:
        by_key = {content_sha256(row["text"]): row["text"] for row in csv.DictReader(f)}
    return list(by_key.values())


def unique_texts(texts: list[str], n: int) -> list[str]:
    """``n`` distinct texts: the articles in turn, each copy after the first tagged."""
    return [
        t if i < len(texts) else f"{t} copy{i // len(texts)}"
        for i, t in ((i, texts[i % len(texts)]) for i in range(n))
    ]


def short_texts(texts: list[str], n: int, start: int = 0) -> list[str]:
    """RSS-like items: the headline and the first sentence, 20-50 words; items
    ``start`` to ``start + n - 1`` of one endless distinct sequence."""
    out = []
    for i in range(start, start + n):
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


def seconds_of(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def tutorial_way(predictor: Any, texts: list[str]) -> None:
    """The tutorial's inference: every text padded to 200, ``model.predict`` (batch 32)."""
    from newsclf.trainer.preprocess import pad

    predictor.model.predict(pad(predictor.encode(texts), 200), verbose=0)


def in_memory_round(predictor: Any, long_texts: list[str], shorts: list[str]) -> dict[str, float]:
    """One sample of each in-memory figure (articles/s): the Predictor at each batch
    size (key: the size), on short texts at 512 (``short``), the tutorial's way."""
    aps = {}
    for bs in (1, 32, 128, 256, 512):
        sample = long_texts[: 200 if bs == 1 else 2048]
        seconds = seconds_of(lambda s=sample, b=bs: predictor.predict_proba(s, batch_size=b))
        aps[str(bs)] = len(sample) / seconds
    aps["short"] = 4096 / seconds_of(lambda: predictor.predict_proba(shorts[:4096], batch_size=512))
    aps["tutorial"] = 2048 / seconds_of(lambda: tutorial_way(predictor, long_texts[:2048]))
    log("in memory: " + ", ".join(f"{k} {v:.0f}" for k, v in aps.items()))
    return aps


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
        if self.redis.dbsize():  # not ours: someone else's data, or a crashed run's
            with psycopg.connect(PG + "/test", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{self.db}"')
            raise SystemExit(
                f"{REDIS} holds {self.redis.dbsize()} keys: give the benchmark an empty "
                "Redis database (NEWSCLF_BENCH_REDIS=redis://HOST:PORT/N)"
            )
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
        from newsclf.schema.db import make_engine, session_factory

        self.engine = make_engine(self.url)
        self.sessions = session_factory(self.engine)

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [str(BIN / "newsclf"), *args], env=self.env, capture_output=True, text=True
        )
        if out.returncode:
            raise SystemExit(f"newsclf {' '.join(args)} failed: {out.stderr.strip()[-2000:]}")
        return out.stdout

    def count(self, after_id: int = 0) -> int:
        """Committed predictions whose id is above ``after_id`` (a range scan of the
        primary key: only the rows of the run being measured, however many came before)."""
        from sqlalchemy import func, select

        from newsclf.schema.models import Prediction

        with self.sessions() as s:
            query = select(func.count()).select_from(Prediction).where(Prediction.id > after_id)
            return int(s.scalar(query) or 0)

    def last_id(self) -> int:
        """The highest prediction id so far (rows stored later have higher ones)."""
        from sqlalchemy import func, select

        from newsclf.schema.models import Prediction

        with self.sessions() as s:
            return int(s.scalar(select(func.max(Prediction.id))) or 0)

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


def wait_for_count(
    svc: Services, target: int, timeout: float, after_id: int = 0, poll: float = 0.05
) -> float:
    """Seconds until ``target`` predictions with an id above ``after_id`` are committed,
    polled every ``poll`` seconds (each poll counts rows: polling faster, or counting the
    whole table, takes CPU from what is measured)."""
    start = time.perf_counter()
    while svc.count(after_id) < target:
        if time.perf_counter() - start > timeout:
            got = svc.count(after_id)
            raise SystemExit(f"only {got} of {target} predictions after {timeout}s")
        time.sleep(poll)
    return time.perf_counter() - start


def measure_naive(svc: Services, texts: list[str], n: int) -> float:
    from newsclf.schema.articles import content_sha256, upsert_articles

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
            sys.executable,
            "-m",
            "celery",
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
        base = svc.last_id()
        start = time.perf_counter()
        with naive_app.producer_or_acquire() as producer:
            for i in ids:
                naive_app.send_task("naive.classify", args=[i], queue="naive", producer=producer)
        wait_for_count(svc, len(ids), timeout=600, after_id=base)
        return round(len(ids) / (time.perf_counter() - start), 2)
    finally:
        proc.terminate()
        proc.wait(30)


class CpuAccount:
    """Where the machine's CPU went between ``start()`` and ``stop()``, in core-seconds:
    the worker's TensorFlow threads (the model), its Python threads (Celery, encoding,
    SQL, and the Python side of each model call: padding, the call itself), the
    processes waited for meanwhile (``newsclf enqueue``), everything else
    (PostgreSQL, Redis, this script's polling) and what no one used."""

    def __init__(self, worker_pid: int) -> None:
        self.worker_pid = worker_pid

    def _threads(self) -> dict[str, float]:
        """CPU seconds of each of the worker's threads, keyed by id and name."""
        out: dict[str, float] = {}
        tick = os.sysconf("SC_CLK_TCK")
        for tid in os.listdir(f"/proc/{self.worker_pid}/task"):
            try:
                name = Path(f"/proc/{self.worker_pid}/task/{tid}/comm").read_text().strip()
                fields = Path(f"/proc/{self.worker_pid}/task/{tid}/stat").read_text()
            except OSError:  # the thread ended meanwhile
                continue
            utime, stime = fields.rsplit(")", 1)[1].split()[11:13]
            out[f"{tid}:{name}"] = (int(utime) + int(stime)) / tick
        return out

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return float(sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq")))

    def start(self) -> None:
        self.t0, self.busy0, self.threads0 = time.perf_counter(), self._busy(), self._threads()
        self.children0 = resource.getrusage(resource.RUSAGE_CHILDREN)

    def stop(self) -> dict[str, float]:
        wall, busy = time.perf_counter() - self.t0, self._busy() - self.busy0
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        enqueue = (children.ru_utime - self.children0.ru_utime) + (
            children.ru_stime - self.children0.ru_stime
        )
        model = other = 0.0
        for key, seconds in self._threads().items():
            spent = seconds - self.threads0.get(key, 0.0)
            if key.split(":", 1)[1].startswith("tf_"):
                model += spent
            else:
                other += spent
        cores = os.cpu_count() or 1
        account = {
            "worker_model": model,
            "worker_other": other,
            "enqueue": enqueue,
            "other_processes": max(busy - model - other - enqueue, 0.0),
            "idle": max(cores * wall - busy, 0.0),
        }
        return {k: round(v, 2) for k, v in account.items()}


def e2e_run(
    svc: Services, texts: list[str], name: str, r: int, cpu: CpuAccount
) -> tuple[float, dict[str, float], float]:
    """Articles/s of run ``r`` (its articles never seen before: the texts tagged with
    the run's number, so nothing is deduplicated away), where the CPU went, and the
    seconds from the command's start to the first committed prediction."""
    path = svc.workdir / f"{name}{r}.csv"
    write_csv(path, [f"{t} run{r}" for t in texts] if r else texts)
    base = svc.last_id()
    cpu.start()
    start = time.perf_counter()
    enqueue = subprocess.Popen(
        [str(BIN / "newsclf"), "enqueue", str(path), "--source", f"{name}{r}"],
        env=svc.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    first = start + wait_for_count(svc, 1, timeout=600, after_id=base, poll=0.02)
    _, err = enqueue.communicate()
    if enqueue.returncode:
        raise SystemExit(f"newsclf enqueue failed: {err.decode(errors='replace')[-2000:]}")
    wait_for_count(svc, len(texts), timeout=1800, after_id=base)
    seconds = time.perf_counter() - start
    account = cpu.stop()
    log(f"{name} run {r + 1}: {len(texts)} articles in {seconds:.2f}s; cpu {account}")
    return round(len(texts) / seconds, 1), account, round(first - start, 3)


def measure_latency(svc: Services, texts: list[str], rate: float = 20.0) -> dict[str, float]:
    """Feed one article at a time at ``rate``/s; time each until its row is visible."""
    from sqlalchemy import select

    from newsclf.schema.models import Article, Prediction
    from newsclf.settings import Settings
    from newsclf.worker.app import make_app
    from newsclf.worker.enqueue import enqueue_feeds
    from newsclf.worker.publish import CeleryPublisher

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


FIGURES = (
    "ceiling", "naive", "drain", "drain_short", "e2e", "e2e_short", "latency", "rss",
    "cli_start", "export",
)  # fmt: skip
"""What ``--only`` may name: ceiling (ceiling_aps, ceiling_short_aps, tutorial_aps), naive,
drain, drain_short, e2e, e2e_short, latency, rss (enqueue_peak_rss_mb), cli_start, export."""


def worker_argv() -> list[str]:
    return [str(BIN / "newsclf"), "worker", "-Q", "classify"]


def drain_run(
    svc: Services, texts: list[str], r: int, name: str = "drain"
) -> tuple[dict[str, Any], Any]:
    """Store and queue ``texts`` (tagged with the round) with no worker running, then
    start one and wait until it drained them; the window measured in the database
    (``figures.drain_window``) and the worker, left running."""
    import psycopg

    from bench.figures import drain_window

    path = svc.workdir / f"{name}{r}.csv"
    write_csv(path, [f"{t} {name}{r}" for t in texts])
    base = svc.last_id()
    svc.cli("enqueue", str(path), "--source", f"{name}{r}")
    worker = svc.start(worker_argv(), f"worker-{name}{r}")
    wait_for_count(svc, len(texts), timeout=1800, after_id=base)
    with psycopg.connect(svc.url) as conn:
        window = drain_window(conn, base)
    log(f"{name} run {r + 1}: {window}")
    return window, worker


def measure_export(svc: Services, texts: list[str], repeat: int) -> dict[str, Any]:
    """Label a job of ``texts`` (a running worker needed), then export it ``repeat``
    times; the fastest run."""
    from bench.figures import export

    path = svc.workdir / "export.csv"
    write_csv(path, [f"{t} export" for t in texts])
    base = svc.last_id()
    summary = json.loads(
        svc.cli("enqueue", str(path), "--source", "export", "--json").splitlines()[-1]
    )
    wait_for_count(svc, len(texts), timeout=1800, after_id=base)
    runs = [export(str(BIN / "newsclf"), svc.env, summary["job_id"], svc.workdir / "out.csv")
            for _ in range(repeat)]  # fmt: skip
    best = min(runs, key=lambda run: run["s"])
    log(f"export: {[run['s'] for run in runs]} s for {best['rows']} rows")
    return {
        "export_rows": best["rows"],
        "export_s": best["s"],
        "export_rows_per_s": best["rows_per_s"],
        "export_s_runs": [run["s"] for run in runs],
    }


def ratios(result: dict[str, Any]) -> dict[str, float]:
    """Each ratio whose two figures were measured."""
    pairs = {
        "drain_vs_ceiling": ("drain_aps", "ceiling_aps", 3),
        "drain_short_vs_ceiling_short": ("drain_short_aps", "ceiling_short_aps", 3),
        "e2e_bound_vs_ceiling": ("e2e_bound_aps", "ceiling_aps", 3),
        "e2e_short_bound_vs_ceiling_short": ("e2e_short_bound_aps", "ceiling_short_aps", 3),
        "e2e_vs_ceiling": ("e2e_aps", "ceiling_aps", 3),
        "e2e_short_vs_ceiling_short": ("e2e_short_aps", "ceiling_short_aps", 3),
        "e2e_vs_tutorial": ("e2e_aps", "tutorial_aps", 2),
        "e2e_vs_naive": ("e2e_aps", "naive_aps", 1),
        "e2e_short_vs_e2e": ("e2e_short_aps", "e2e_aps", 2),
    }
    return {
        name: round(result[a] / result[b], digits)
        for name, (a, b, digits) in pairs.items()
        if result.get(a) and result.get(b)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--model", type=Path, help="artifact directory (default: train one)")
    parser.add_argument("--naive", type=int, default=300, help="articles for the naive service")
    parser.add_argument("--latency-articles", type=int, default=200)
    parser.add_argument("--enqueue-rows", type=int, default=100_000)
    parser.add_argument("--export-rows", type=int, default=50_000)
    parser.add_argument("--cli-runs", type=int, default=5, help="runs of each cli_start command")
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="rounds of the throughput figures; each figure's best is reported (default 2)",
    )
    parser.add_argument(
        "--only",
        type=lambda v: [f.strip() for f in v.split(",") if f.strip()],
        default=list(FIGURES),
        help="comma-separated figures to measure (default: all): " + ",".join(FIGURES),
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args()
    unknown = sorted(set(args.only) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {','.join(unknown)}; choose from {','.join(FIGURES)}")
    figures = set(args.only)

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
            "figures": [f for f in FIGURES if f in figures],
        }
        predictor = None
        if "ceiling" in figures:
            from newsclf.trainer.predictor import Predictor

            predictor = Predictor.load(model)
            result["model_version"] = predictor.version
            predictor.predict_proba(long_texts[:512], batch_size=512)  # trace the compiled fn
            tutorial_way(predictor, long_texts[:64])

        svc = Services(model, workdir)
        try:
            measure_with(svc, args, figures, result, predictor, base, long_texts, shorts)
        finally:
            svc.close()

    result["ratios"] = ratios(result)
    print(json.dumps(result, indent=None if args.json else 2))


def measure_with(
    svc: Services,
    args: argparse.Namespace,
    figures: set[str],
    result: dict[str, Any],
    predictor: Any,
    base: list[str],
    long_texts: list[str],
    shorts: list[str],
) -> None:
    """Every figure of ``figures`` but the ceiling's model load, into ``result``."""
    if "cli_start" in figures:  # first: the database is still empty
        from bench.figures import cli_start

        result.update(cli_start(str(BIN / "newsclf"), svc.env, runs=args.cli_runs))
        log(f"cli start {result['cli_start_s']} s")
    if "naive" in figures:
        result["naive_aps"] = measure_naive(svc, [f"{t} naive" for t in base], args.naive)
        log(f"naive {result['naive_aps']}")
    samplers: list[RssSampler] = []
    worker: Any = None

    def start_worker(name: str) -> Any:
        proc = svc.start(worker_argv(), name)
        samplers.append(RssSampler(proc.pid))
        svc.wait_ready(name)
        return proc

    def stop_worker(proc: Any) -> None:
        proc.terminate()
        proc.wait(60)

    try:
        # Rounds of every throughput figure, so that a slow spell of the machine
        # weighs on all of them alike; each figure is its best round.
        memory: list[dict[str, float]] = []
        e2e: dict[str, list[tuple[float, dict[str, float], float]]] = {"e2e": [], "e2e_short": []}
        drains: dict[str, list[dict[str, Any]]] = {"drain": [], "drain_short": []}
        for r in range(args.repeat):
            if "ceiling" in figures:
                memory.append(in_memory_round(predictor, long_texts, shorts))
            for name in (d for d in drains if d in figures):
                # a fresh worker each round, started after the backlog
                if worker is not None:
                    stop_worker(worker)
                texts = long_texts if name == "drain" else shorts
                drained, worker = drain_run(svc, texts, r, name)
                samplers.append(RssSampler(worker.pid))
                drains[name].append(drained)
            runs = [name for name in e2e if name in figures]
            if runs and worker is None:
                worker = start_worker("worker")
            for name in runs:
                texts = long_texts if name == "e2e" else shorts
                e2e[name].append(e2e_run(svc, texts, name, r, CpuAccount(worker.pid)))
        if memory:
            best = {k: round(max(m[k] for m in memory), 1) for k in memory[0]}
            result["ceiling_by_batch"] = {k: v for k, v in best.items() if k.isdigit()}
            result["ceiling_aps"] = max(result["ceiling_by_batch"].values())
            result["ceiling_short_aps"] = best["short"]
            result["tutorial_aps"] = best["tutorial"]
        for name, windows in drains.items():
            if windows:
                result[f"{name}_aps"] = max(d["aps"] or 0.0 for d in windows)
                result[f"{name}_runs"] = [d["aps"] for d in windows]
                result[f"{name}_window"] = max(windows, key=lambda d: d["aps"] or 0.0)
        for name, measured in e2e.items():
            if measured:
                fastest = max(measured, key=lambda run: run[0])
                result[f"{name}_runs"] = [aps for aps, _, _ in measured]
                result[f"{name}_aps"], result[f"{name}_cpu_s"], result[f"{name}_first_s"] = fastest
        for e2e_name, drain_name, n in (
            ("e2e", "drain", len(long_texts)),
            ("e2e_short", "drain_short", len(shorts)),
        ):
            if result.get(f"{drain_name}_aps") and f"{e2e_name}_first_s" in result:
                first, drain = result[f"{e2e_name}_first_s"], result[f"{drain_name}_aps"]
                result[f"{e2e_name}_bound_aps"] = round(n / (first + n / drain), 1)
        if {"latency", "export"} & figures and worker is None:
            worker = start_worker("worker")
        if "latency" in figures:
            live = [
                f"{t} live{i}" for i, t in enumerate(short_texts(base[::-1], args.latency_articles))
            ]
            result.update(measure_latency(svc, live))
        if "export" in figures:
            texts = short_texts(base, args.export_rows)
            result.update(measure_export(svc, texts, args.repeat))
    finally:
        if worker is not None:
            stop_worker(worker)
        peaks = [s.stop() for s in samplers]
        if peaks:
            result["worker_peak_rss_mb"] = max(peaks)
    if "rss" in figures:
        result["enqueue_peak_rss_mb"] = measure_enqueue_rss(svc, base, args.enqueue_rows)
        result["enqueue_rows"] = args.enqueue_rows


if __name__ == "__main__":
    main()
