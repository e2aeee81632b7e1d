"""``newsclf train`` and ``newsclf evaluate``: parse, call trainer/, print.

TensorFlow is imported inside the commands, never at import of this module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from newsclf.errors import InputError

_FILE = click.Path(path_type=Path, dir_okay=False)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data_path", type=_FILE, default=None,
              help="labeled CSV or JSONL file [default: settings train_data]")
@click.option("--test", "test_path", type=_FILE, default=None,
              help="labeled file to evaluate on instead of a held-out split")
@click.option("--preset", type=click.Choice(["default", "seed"]), default="default", show_default=True,
              help="'seed' is the tutorial's model, faithfully")
@click.option("--epochs", type=click.IntRange(min=1), help="training epochs (at most, with early stopping)")
@click.option("--seed", type=int, help="random seed: same data and seed, same metrics")
@click.option("--vocab-size", type=click.IntRange(min=3), help="ids in the vocabulary, padding and OOV included")
@click.option("--embedding-dim", type=click.IntRange(min=1), help="embedding width")
@click.option("--max-length", type=click.IntRange(min=1), help="ids kept per text")
@click.option("--batch-size", type=click.IntRange(min=1), help="texts per training step")
@click.option("--train-portion", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="share of the data trained on when there is no --test")
@click.option("--validation-portion", type=click.FloatRange(0, 1, max_open=True),
              help="slice of the training data for the temperature, validation curves and early "
                   "stopping [default: 0.1; 0 for --preset seed]")
@click.option("--patience", type=click.IntRange(min=0),
              help="epochs without a better validation loss before stopping (needs --validation-portion)")
@click.option("--word-dropout", type=click.FloatRange(0, 1, max_open=True),
              help="share of a training text's words replaced by OOV each epoch")
@click.option("--bigram-buckets", type=click.IntRange(min=0),
              help="hashed word pairs beside the words in the bag head (0: none)")
@click.option("--tfidf-head/--no-tfidf-head", default=None,
              help="a linear model on each text's TF-IDF vector beside the BiLSTM, its logits "
                   "added to the others' [default: on; off for --preset seed]")
@click.option("--embeddings", type=click.Path(exists=True, dir_okay=False, readable=True),
              help="GloVe / word2vec text file of word vectors to start from "
                   "(their width must be --embedding-dim)")
@click.option("--calibrate/--no-calibrate", default=None,
              help="fit a temperature on the validation slice (--validation-portion) so that "
                   "confidences mean what they say [default: on; off for --preset seed]")
@click.option("--text-column", help="text column (CSV) or key (JSONL) [default: text]")
@click.option("--label-column", help="label column (CSV) or key (JSONL) [default: category / label]")
@click.option("--models-dir", type=click.Path(path_type=Path, file_okay=False),
              help="where the artifact directory is written [default: settings models_dir]")
@click.option("--json", "as_json", is_flag=True, help="end with one JSON object on the last line")
@click.option("--no-register", is_flag=True, help="only write the artifact, not the registry")
@click.option("--no-activate", is_flag=True, help="register without making it the active model")
def train(
    data_path: Path | None,
    test_path: Path | None,
    preset: str,
    as_json: bool,
    no_register: bool,
    no_activate: bool,
    text_column: str | None,
    label_column: str | None,
    models_dir: Path | None,
    **hyper: Any,
) -> None:
    """Train a model, write a versioned artifact, register it and make it active.

    Registering records the metrics, lineage (data sha256, config, parent =
    the version active before) and the artifact's bytes in the database;
    with no database set up yet (`newsclf db upgrade`), it is skipped.

    \b
    Example:
      newsclf train --data ../shared/data/bbc-text.csv --epochs 10 --seed 1
      newsclf train --data train.csv --test test.csv --preset seed --json
    """
    from newsclf.settings import get_settings
    from newsclf.trainer.model import ModelConfig
    from newsclf.trainer.train import train as run_training

    settings = get_settings()
    config = ModelConfig.preset(preset, **hyper)
    result = run_training(
        data_path or settings.train_data,
        test_path=test_path,
        config=config,
        models_dir=models_dir or settings.models_dir,
        text_column=text_column,
        label_column=label_column,
        progress=click.echo,
    )
    metrics = result.evaluation
    click.echo(_table(metrics.per_class))
    click.echo(
        f"accuracy {metrics.accuracy:.2%}  macro-F1 {metrics.macro_f1:.2%}  ECE {metrics.ece:.3f}"
        f"  on {result.n_test} texts"
        f" (trained on {result.n_train}, {result.train_seconds:.0f} s)"
    )
    click.echo(f"artifact {result.path}")
    registered = None
    if not no_register:
        from newsclf.cli.registry import register_trained

        registered = register_trained(settings.database_url, result.path,
                                      activate=not no_activate, by=settings.user or "unknown")
        if registered is None:
            click.echo(f"not registered (no newsclf database at {settings.shown('database_url')}): "
                       f"`newsclf models register {result.path}` later", err=True)
        else:
            click.echo(f"registered {registered['version']} (active: {registered['active']})")
    if as_json:
        click.echo(json.dumps({
            "version": result.version,
            "path": str(result.path),
            "accuracy": metrics.accuracy,
            "macro_f1": metrics.macro_f1,
            "per_class": metrics.per_class,
            "train_seconds": result.train_seconds,
            "n_train": result.n_train,
            "n_test": result.n_test,
            "artifact_sha256": result.artifact_sha256,
            "short_text_accuracy": result.metrics.get("short_text_accuracy"),
            "ece": metrics.ece,
            "temperature": result.config.temperature,
            "registered": registered is not None,
            "active": bool(registered and registered["active"]),
        }))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "model_ref", required=True,
              help="artifact directory, or a version id in the models directory")
@click.option("--data", "data_path", type=_FILE, required=True, help="labeled CSV or JSONL file")
@click.option("--text-column", help="text column (CSV) or key (JSONL) [default: text]")
@click.option("--label-column", help="label column (CSV) or key (JSONL) [default: category / label]")
@click.option("--models-dir", type=click.Path(path_type=Path, file_okay=False),
              help="where bare version ids are looked up [default: settings models_dir]")
@click.option("--json", "as_json", is_flag=True, help="end with one JSON object on the last line")
def evaluate(
    model_ref: str,
    data_path: Path,
    text_column: str | None,
    label_column: str | None,
    models_dir: Path | None,
    as_json: bool,
) -> None:
    """Score a labeled file with a model artifact.

    Labels the model does not know count as errors and are listed.

    \b
    Example:
      newsclf evaluate --model 20261128-121530-3f9a1c --data test.csv --json
      newsclf evaluate --model models/20261128-121530-3f9a1c --data feed.jsonl
    """
    from newsclf.settings import get_settings
    from newsclf.trainer.artifact import resolve_artifact
    from newsclf.trainer.data import read_labeled
    from newsclf.trainer.evaluate import evaluate_labels
    from newsclf.trainer.predictor import Predictor

    path = resolve_artifact(model_ref, models_dir or get_settings().models_dir)
    data = read_labeled(data_path, text_column=text_column, label_column=label_column)
    if data.skipped:
        click.echo(data.skip_summary(), err=True)
    predictor = Predictor.load(path)
    probabilities = predictor.predict_proba(data.texts)
    predicted = [predictor.labels[i] for i in probabilities.argmax(axis=1)]
    result = evaluate_labels(data.labels, predicted, predictor.labels,
                             confidences=probabilities.max(axis=1) if len(data) else None)
    click.echo(_table(result.per_class))
    click.echo(f"accuracy {result.accuracy:.2%}  macro-F1 {result.macro_f1:.2%}  ECE {result.ece or 0:.3f}"
               f"  on {result.n} texts (model {predictor.version})")
    if result.unknown_labels:
        unknown = ", ".join(f"{k} ({v})" for k, v in result.unknown_labels.items())
        click.echo(f"labels the model does not know (counted as errors): {unknown}")
    if as_json:
        out = result.to_json()
        click.echo(json.dumps({k: out[k] for k in
                               ("accuracy", "macro_f1", "ece", "per_class", "confusion",
                                "unknown_labels", "n")}))


def _table(per_class: dict[str, dict[str, float]]) -> str:
    """Per-class precision / recall / F1 / support as aligned text."""
    if not per_class:
        raise InputError("nothing to report: no labeled texts")
    width = max(8, *(len(label) for label in per_class))
    lines = [f"{'label':<{width}}  precision  recall      f1  support"]
    for label, s in per_class.items():
        lines.append(f"{label:<{width}}  {s['precision']:>9.3f}  {s['recall']:>6.3f}  {s['f1']:>6.3f}"
                     f"  {int(s['support']):>7d}")
    return "\n".join(lines)
