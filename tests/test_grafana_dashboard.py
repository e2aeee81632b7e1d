"""deploy/grafana/newsclf-dashboard.json asks only for metrics the workers expose."""

from __future__ import annotations

import json
import re

from services import ROOT

from newsclf.worker.metrics import Metrics

DASHBOARD = ROOT / "deploy" / "grafana" / "newsclf-dashboard.json"


def test_every_metric_the_dashboard_queries_is_one_a_worker_exposes() -> None:
    exposed = {
        sample.name
        for family in Metrics(queue_depth=lambda: 0).registry.collect()
        for sample in family.samples
    }
    # Histograms without observations list no samples: add their series names.
    for family in Metrics(queue_depth=lambda: 0).registry.collect():
        if family.type == "histogram":
            exposed |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
        if family.type == "counter":
            exposed.add(f"{family.name}_total")
        exposed.add(family.name)
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bnewsclf_\w+", target["expr"])
    }
    assert queried and queried <= exposed, queried - exposed
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in ("labeled", "batch size", "queue depth", "queue wait", "inference", "confidence"):
        assert topic in titles, topic
