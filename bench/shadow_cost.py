"""What a shadow version costs a worker: articles/s through one real worker with and
without a shadow, the same backlog each run. Prints JSON.

    python bench/shadow_cost.py [--articles 10000] [--model PATH] [--pairs 3] [--json]

Same services and environment as ``bench/throughput.py`` (NEWSCLF_BENCH_PG,
NEWSCLF_BENCH_REDIS, NEWSCLF_BENCH_DATA). The shadow is the model itself under
another version id (same size, so the same cost as a retrained challenger).
Runs alternate, off/on then on/off, so a busy spell of a shared machine weighs
on both sides; each run enqueues N articles never seen before and waits for
the last committed prediction (N without a shadow, 2N with one: the worker
writes the shadow's rows before it acks). ``ratio`` is on/off per pair, and
``ratio_median`` their median: the share of the throughput left with a shadow.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.throughput import (  # noqa: E402
    BIN,
    Services,
    bbc_texts,
    log,
    train_default,
    unique_texts,
    wait_for_count,
    write_csv,
)

RELOAD_S = 0.5
"""NEWSCLF_RELOAD_INTERVAL_S of the worker: it sees a shadow change within this."""


def clone(model: Path, workdir: Path, version: str) -> Path:
    """The artifact under another version id (its own manifest identity)."""
    target = workdir / "shadow" / version
    shutil.copytree(model, target)
    manifest = json.loads((target / "MANIFEST.json").read_text())
    manifest["version"] = version
    (target / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return target


def run(svc: Services, texts: list[str], tag: str, shadow: str | None) -> float:
    """Articles/s of one backlog of ``texts`` (tagged, so all are new)."""
    svc.cli("models", "shadow", shadow) if shadow else svc.cli("models", "shadow", "--off")
    time.sleep(3 * RELOAD_S)
    path = svc.workdir / f"{tag}.csv"
    write_csv(path, [f"{t} {tag}" for t in texts])
    base = svc.last_id()
    start = time.perf_counter()
    svc.cli("enqueue", str(path), "--source", tag)
    wait_for_count(svc, len(texts) * (2 if shadow else 1), timeout=3600, after_id=base)
    seconds = time.perf_counter() - start
    log(f"{tag}: {len(texts)} articles in {seconds:.2f}s")
    return round(len(texts) / seconds, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--model", type=Path, help="artifact directory (default: train one)")
    parser.add_argument("--pairs", type=int, default=3, help="off/on pairs (default 3)")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="newsclf-shadow-bench-") as tmp:
        workdir = Path(tmp)
        model = args.model or train_default(workdir)
        texts = unique_texts(bbc_texts(), args.articles)
        svc = Services(model, workdir)
        svc.env["NEWSCLF_RELOAD_INTERVAL_S"] = str(RELOAD_S)
        shadow = clone(model, workdir, "shadow-bench").name
        svc.cli("models", "register", str(workdir / "shadow" / shadow), "--no-activate")
        result: dict[str, Any] = {"articles": args.articles, "model": str(model), "pairs": []}
        worker = svc.start([str(BIN / "newsclf"), "worker", "-Q", "classify"], "worker")
        try:
            svc.wait_ready("worker")
            run(svc, texts[:500], "warmup", shadow)  # both models loaded and traced
            for p in range(args.pairs):
                order = [None, shadow] if p % 2 == 0 else [shadow, None]
                aps = {("on" if s else "off"): run(svc, texts, f"p{p}{'on' if s else 'off'}", s)
                       for s in order}
                aps["ratio"] = round(aps["on"] / aps["off"], 3)
                result["pairs"].append(aps)
        finally:
            worker.terminate()
            worker.wait(60)
            svc.close()
        ratios = [p["ratio"] for p in result["pairs"]]
        result["ratio_median"] = statistics.median(ratios)
        result["off_aps_median"] = statistics.median(p["off"] for p in result["pairs"])
        result["on_aps_median"] = statistics.median(p["on"] for p in result["pairs"])
        result["cpus"] = os.cpu_count()
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
