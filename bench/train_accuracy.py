"""newsclf's default against TF-IDF + LinearSVC on the same splits; prints one JSON object.

Splits of bbc-text.csv: the tutorial's (first 1,780 rows train, last 445 test) and
seeded random stratified 80/20 splits of the file with exact duplicate texts dropped
(``--split-seeds``). Each split is written as train.csv and test.csv, and

- ``newsclf train --data train.csv --test test.csv --json`` runs as a subprocess (its
  wall clock includes Python start-up, the TensorFlow import and writing the artifact;
  ``train_seconds`` is the trainer's own clock), for the default preset and, on the
  first ``--seed-preset-splits`` splits, the tutorial's ``--preset seed`` for its time;
- scikit-learn's ``TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2)``
  + ``LinearSVC()`` trains on the same rows (the trainer drops test texts from the
  training file; so does this);
- both are scored on the whole test texts (accuracy, macro-F1; ECE of newsclf's
  confidences, 15 bins) and on three harder versions of them: the first sentence only
  (up to the first ". "; with the headline, an RSS item), the first 20 words, and every
  word replaced, with probability ``--unseen-share``, by a made-up word never seen in
  training (another newsroom's vocabulary)::

    .venv/bin/python bench/train_accuracy.py                          # tutorial + 5 splits
    .venv/bin/python bench/train_accuracy.py --split-seeds 1 2 --seed-preset-splits 0

scikit-learn is a dev dependency (``pip install -e .[dev]``), used only here.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bbc-text.csv"
TRAIN_ROWS = 1780
FIRST_WORDS = 20
sys.path.insert(0, str(ROOT))


def write_split(path: Path, labels: list[str], texts: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["category", "text"])
        writer.writerows(zip(labels, texts, strict=True))
    return path


def make_splits(data: Path, out: Path, seeds: list[int]) -> dict[str, tuple[Path, Path]]:
    """name -> (train.csv, test.csv): "tutorial", then "dedup-<seed>" per seed."""
    from newsclf.trainer.data import drop_duplicates, read_labeled, stratified_split

    rows = read_labeled(data)
    parts = {"tutorial": (rows.subset(range(TRAIN_ROWS)), rows.subset(range(TRAIN_ROWS, len(rows))))}
    unique, _ = drop_duplicates(rows)
    for seed in seeds:
        train_idx, test_idx = stratified_split(unique.labels, 0.8, seed)
        parts[f"dedup-{seed}"] = (unique.subset(train_idx), unique.subset(test_idx))
    splits = {}
    for name, (train, test) in parts.items():
        (out / name).mkdir()
        splits[name] = (write_split(out / name / "train.csv", train.labels, train.texts),
                        write_split(out / name / "test.csv", test.labels, test.texts))
    return splits


def first_sentence(text: str) -> str:
    end = text.find(". ")
    return text[: end + 1] if end > 0 else text


def with_unseen_words(texts: list[str], share: float, seed: int = 0) -> list[str]:
    """Each word replaced with probability ``share`` by a made-up one ("q" + 7 consonants)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("bcdfghjklmnpqrstvwxz"))
    out = []
    for text in texts:
        words = text.split()
        for i in np.flatnonzero(rng.random(len(words)) < share):
            words[i] = "q" + "".join(rng.choice(letters, 7))
        out.append(" ".join(words))
    return out


def variants(texts: list[str], share: float) -> dict[str, list[str]]:
    return {"first_sentence": [first_sentence(t) for t in texts],
            f"first_{FIRST_WORDS}_words": [" ".join(t.split()[:FIRST_WORDS]) for t in texts],
            f"unseen_{round(share * 100)}pct": with_unseen_words(texts, share)}


def run_train(train: Path, test: Path, models: Path, preset: str, seed: int) -> dict[str, Any]:
    """One ``newsclf train`` subprocess: its JSON summary plus the wall time."""
    command = [sys.executable, "-c", "from newsclf.cli import main; main()", "train",
               "--data", str(train), "--test", str(test), "--preset", preset, "--seed", str(seed),
               "--models-dir", str(models), "--no-register", "--json"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"newsclf train failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall_seconds": round(wall, 1)}


def score(true: list[str], predicted: list[str], labels: list[str]) -> dict[str, float]:
    from newsclf.trainer.evaluate import evaluate_labels

    ev = evaluate_labels(true, predicted, labels)
    return {"accuracy": round(ev.accuracy, 4), "macro_f1": round(ev.macro_f1, 4)}


def newsclf_figures(artifact: Path, test: Path, share: float) -> dict[str, Any]:
    """Through ``Predictor``: whole texts (with ECE and median confidence) and the variants."""
    from newsclf.trainer.data import read_labeled
    from newsclf.trainer.evaluate import evaluate_labels
    from newsclf.trainer.predictor import Predictor

    data = read_labeled(test)
    predictor = Predictor.load(artifact)
    probabilities = predictor.predict_proba(data.texts)
    predicted = [predictor.labels[i] for i in probabilities.argmax(axis=1)]
    ev = evaluate_labels(data.labels, predicted, predictor.labels, confidences=probabilities.max(axis=1))
    out: dict[str, Any] = {"accuracy": round(ev.accuracy, 4), "macro_f1": round(ev.macro_f1, 4),
                           "ece": round(ev.ece or 0.0, 4),
                           "median_confidence": round(float(np.median(probabilities.max(axis=1))), 4),
                           "temperature": predictor.config.temperature}
    for name, texts in variants(data.texts, share).items():
        labels = [predictor.labels[i] for i in predictor.predict_proba(texts).argmax(axis=1)]
        out[name] = score(data.labels, labels, predictor.labels)["accuracy"]
    return out


def svm_figures(train: Path, test: Path, share: float) -> dict[str, Any]:
    """TF-IDF + LinearSVC on the same rows: fit time, whole texts and the variants."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    from newsclf.trainer.data import drop_duplicates, read_labeled

    test_data = read_labeled(test)
    train_data, _ = drop_duplicates(read_labeled(train), also_in=test_data.texts)
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2)
    svm = LinearSVC().fit(vectorizer.fit_transform(train_data.texts), train_data.labels)
    fit_seconds = time.perf_counter() - started
    labels = sorted(set(train_data.labels))

    def predict(texts: list[str]) -> list[str]:
        return [str(p) for p in svm.predict(vectorizer.transform(texts))]

    out: dict[str, Any] = {**score(test_data.labels, predict(test_data.texts), labels),
                           "train_seconds": round(fit_seconds, 2)}
    for name, texts in variants(test_data.texts, share).items():
        out[name] = score(test_data.labels, predict(texts), labels)["accuracy"]
    return out


def means(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: round(statistics.mean(r[k] for r in rows), 4) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split-seeds", type=int, nargs="*", default=[1, 2, 3, 4, 5],
                        help="one random dedup stratified 80/20 split per seed, beside the tutorial's")
    parser.add_argument("--seed", type=int, default=1, help="newsclf's training seed")
    parser.add_argument("--seed-preset-splits", type=int, default=None,
                        help="train --preset seed on the first N splits too, for its time [all]")
    parser.add_argument("--unseen-share", type=float, default=0.3)
    args = parser.parse_args()
    results: dict[str, Any] = {"splits": {}}
    with tempfile.TemporaryDirectory(prefix="newsclf-bench-") as tmp:
        splits = make_splits(args.data, Path(tmp), args.split_seeds)
        n_seed = len(splits) if args.seed_preset_splits is None else args.seed_preset_splits
        for k, (name, (train, test)) in enumerate(splits.items()):
            run = run_train(train, test, Path(tmp) / "models", "default", args.seed)
            entry = {
                "newsclf": {**newsclf_figures(Path(run["path"]), test, args.unseen_share),
                            "train_seconds": round(run["train_seconds"], 1),
                            "wall_seconds": run["wall_seconds"], "n_train": run["n_train"],
                            "n_test": run["n_test"]},
                "svm": svm_figures(train, test, args.unseen_share),
            }
            if k < n_seed:
                seed_run = run_train(train, test, Path(tmp) / "models", "seed", args.seed)
                entry["seed_preset"] = {"accuracy": round(seed_run["accuracy"], 4),
                                        "train_seconds": round(seed_run["train_seconds"], 1),
                                        "wall_seconds": seed_run["wall_seconds"]}
            results["splits"][name] = entry
            print(f"{name}: newsclf {entry['newsclf']['accuracy']:.4f} (ECE {entry['newsclf']['ece']:.3f},"
                  f" {entry['newsclf']['wall_seconds']} s)  svm {entry['svm']['accuracy']:.4f}"
                  + (f"  seed preset {entry['seed_preset']['wall_seconds']} s" if k < n_seed else ""),
                  file=sys.stderr, flush=True)
    per = list(results["splits"].values())
    results["mean"] = {model: means([s[model] for s in per if model in s])
                       for model in ("newsclf", "svm", "seed_preset") if any(model in s for s in per)}
    results["newsclf_minus_svm"] = round(results["mean"]["newsclf"]["accuracy"]
                                         - results["mean"]["svm"]["accuracy"], 4)
    results.update(data=str(args.data), split_seeds=args.split_seeds, seed=args.seed, cpus=os.cpu_count())
    print(json.dumps(results))


if __name__ == "__main__":
    main()
