"""The artifact's two PNG plots, drawn with matplotlib's Agg backend (no display)::

    plot_history(history, path / "accuracy_loss.png")   # {"accuracy": [...], "val_loss": [...]}
    plot_confusion(evaluation, path / "confusion.png")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from newsclf.trainer.evaluate import Evaluation


def plot_history(history: Mapping[str, Sequence[float]], path: Path) -> None:
    """Accuracy and loss per epoch, training and validation, side by side (as the tutorial).

    Training figures are those of the served output on each batch as it was
    trained (dropout on), averaged over the epoch, as Keras reports them.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for key, style in ((metric, "-o"), (f"val_{metric}", "-s")):
            values = history.get(key) or []
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if not history.get("val_loss"):
        fig.suptitle("training data (no validation slice: validation_portion 0)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_confusion(evaluation: Evaluation, path: Path) -> None:
    """The held-out confusion matrix: true labels as rows, predictions as columns."""
    plt = _pyplot()
    matrix = evaluation.confusion
    size = 2 + 0.6 * max(matrix.shape)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(matrix.shape[1]), evaluation.predicted_labels, rotation=45, ha="right")
    ax.set_yticks(range(matrix.shape[0]), evaluation.true_labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {evaluation.accuracy:.1%}, macro-F1 {evaluation.macro_f1:.1%}")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in _cells(matrix):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > threshold else "black")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _cells(matrix):  # type: ignore[no-untyped-def]
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            yield (i, j), int(matrix[i, j])


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
