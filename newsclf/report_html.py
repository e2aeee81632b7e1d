"""``newsclf report``'s page: one self-contained HTML file, its plots embedded as
base64 PNG (matplotlib, Agg backend) and its figures as JSON in a
``<script type="application/json" id="figures">`` block::

    Path("report.html").write_text(render_html(figures))
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;"
    "text-align:right}th{background:#f3f3f3}.flag{color:#b00;font-weight:bold}"
    "img{max-width:100%;border:1px solid #eee;margin:6px 0}"
)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _stacked(ax: Any, names: list[str], shares: list[dict[str, float]], labels: list[str]) -> None:
    bottom = [0.0] * len(names)
    for label in labels:
        values = [s.get(label, 0.0) for s in shares]
        ax.bar(names, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)


def plots(figures: dict[str, Any]) -> dict[str, str]:
    """Each plot's title and its PNG as base64."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = figures["days"]
    names = [d["day"] for d in days]
    training = figures["training"]["label_share"]
    labels = sorted(set(training) | {k for d in days for k in d["label_share"]})
    out: dict[str, str] = {}

    fig, ax = plt.subplots(figsize=(9, 3.2))
    _stacked(ax, ["training", *names], [training, *(d["label_share"] for d in days)], labels)
    ax.set_title("Label share per day, against the training set")
    out["Label share per day"] = _png(fig)

    sources = figures["sources"]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    _stacked(
        ax, ["training", *(s["source"] or "-" for s in sources)],
        [training, *(s["label_share"] for s in sources)], labels,
    )
    ax.set_title("Label share per source, against the training set")
    out["Label share per source"] = _png(fig)

    fig, ax = plt.subplots(figsize=(9, 3.2))
    with_conf = [d for d in days if d["confidence_quantiles"]]
    for i, (lo, q1, mid, q3, hi) in enumerate(d["confidence_quantiles"] for d in with_conf):
        ax.plot([i, i], [lo, hi], color="#888")
        ax.bar(i, q3 - q1, bottom=q1, width=0.5, color="#8ab")
        ax.plot([i - 0.25, i + 0.25], [mid, mid], color="#234")
    ax.set_xticks(range(len(with_conf)), [d["day"] for d in with_conf], rotation=45, fontsize=7)
    ax.axhline(figures["low_confidence"], color="#b00", linestyle="--", linewidth=1)
    share = ax.twinx()
    share.plot(range(len(with_conf)), [d["under_review_threshold"] for d in with_conf], "o-",
               color="#b00", markersize=3)
    share.set_ylim(0, 1)
    share.set_ylabel("share under threshold", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("Confidence per day (10/25/50/75/90 %), share under the review threshold")
    out["Confidence per day"] = _png(fig)

    fig, ax = plt.subplots(figsize=(9, 2.8))
    oov_days = [d for d in days if d["oov_rate"] is not None]
    ax.plot([d["day"] for d in oov_days], [d["oov_rate"] for d in oov_days], "o-", markersize=3)
    ax.axhline(figures["training"]["oov_rate"], color="#888", linestyle="--", linewidth=1)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.set_title("Out-of-vocabulary rate per day (dashed: baseline)")
    out["OOV rate per day"] = _png(fig)

    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.plot(names, [d["drift_score"] for d in days], "o-", markersize=3, label="drift score")
    ax.plot(names, [d["label_js"] for d in days], linewidth=1, label="labels (JS)")
    ax.plot(names, [d["oov_js"] for d in days], linewidth=1, label="OOV (JS)")
    ax.axhline(figures["threshold"], color="#b00", linestyle="--", linewidth=1, label="threshold")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.set_title("Drift score per day")
    out["Drift score per day"] = _png(fig)

    fig, ax = plt.subplots(figsize=(9, 2.8))
    through = figures["throughput"]
    versions = [v["version"] for v in figures["versions_in_service"]]
    bottom = [0] * len(through)
    for v in versions:
        values = [t["predictions"].get(v, 0) for t in through]
        ax.bar([t["day"] for t in through], values, bottom=bottom, label=v)
        bottom = [b + x for b, x in zip(bottom, values, strict=True)]
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.set_title("Predictions written per day, by model version")
    out["Throughput per day"] = _png(fig)
    return out


def _table(header: list[str], rows: list[list[Any]], table_id: str) -> str:
    def cell(v: Any) -> str:
        text = f"{v:.4f}" if isinstance(v, float) else ("-" if v is None else str(v))
        return f"<td>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def render_html(figures: dict[str, Any]) -> str:
    """The whole page (see the module docstring)."""
    latest = figures["latest"]
    if latest is None:
        verdict = "no labeled article in this window"
    else:
        state = '<span class="flag">DRIFT</span>' if latest["flagged"] else "no drift"
        verdict = (f"{state} on {latest['day']}: score {latest['drift_score']:.3f} "
                   f"(threshold {figures['threshold']})")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>newsclf report: {html.escape(figures['model_version'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>newsclf report</h1><p>Active model <b>{html.escape(figures['model_version'])}</b>"
        f"; shadow {html.escape(str(figures['shadow_version'] or 'none'))}"
        f"; source {html.escape(str(figures['source'] or 'all'))}"
        f"; since {html.escape(str(figures['since'] or 'the start'))}.</p>",
        f"<h2 id='verdict'>{verdict}</h2>",
    ]
    for title, png in plots(figures).items() if figures["days"] else ():
        parts.append(f"<h3>{html.escape(title)}</h3><img alt='{html.escape(title)}' "
                     f"src='data:image/png;base64,{png}'>")
    parts.append("<h3>Per day</h3>")
    parts.append(_table(
        ["day", "articles", "mean confidence", "under threshold", "OOV rate", "label JS",
         "OOV JS", "drift score", "flag"],
        [[d["day"], d["articles"], d["mean_confidence"], d["under_review_threshold"],
          d["oov_rate"], d["label_js"], d["oov_js"], d["drift_score"],
          "DRIFT" if d["flagged"] else ""] for d in figures["days"]],
        "days",
    ))
    parts.append("<h3>Words newly frequent that the vocabulary does not know</h3>")
    parts.append(_table(
        ["word", "recent per 1,000 articles", "earlier per 1,000 articles"],
        [[w["word"], w["recent_per_1000"], w["earlier_per_1000"]] for w in figures["new_words"]],
        "new-words",
    ))
    parts.append("<h3>Model versions in service</h3>")
    parts.append(_table(
        ["version", "role", "first day", "last day", "predictions"],
        [[v["version"], v["role"], v["first_day"], v["last_day"], v["predictions"]]
         for v in figures["versions_in_service"]],
        "versions",
    ))
    data = json.dumps(figures, default=str).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="figures">{data}</script></body></html>')
    return "".join(parts)
