"""newsclf.worker.metrics: the array histogram agrees with prometheus_client's own, value by value."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from newsclf.worker.metrics import CONFIDENCE_BUCKETS, BulkHistogram, Metrics


def histogram_samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, s.labels.get("le", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_a_whole_array_observed_at_once_gives_the_buckets_of_one_observe_per_value() -> None:
    values = np.random.default_rng(1).random(1000)
    values[:5] = CONFIDENCE_BUCKETS[:5]  # values on a bound belong to that bound's bucket
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("x", "x", buckets=CONFIDENCE_BUCKETS, registry=theirs)
    for v in values:
        reference.observe(float(v))
    bulk = BulkHistogram("x", "x", CONFIDENCE_BUCKETS)
    ours.register(bulk)
    bulk.observe(values[:400])
    bulk.observe(values[400:])
    expected, got = histogram_samples(theirs), histogram_samples(ours)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert np.isclose(got[key], value), key


def test_weights_count_a_value_that_many_times() -> None:
    bulk = BulkHistogram("w", "w", (1, 10))
    registry = CollectorRegistry()
    registry.register(bulk)
    bulk.observe([0.5, 5, 50], weights=[3, 2, 1])
    samples = histogram_samples(registry)
    assert samples[("w_bucket", "1.0")] == 3 and samples[("w_bucket", "10.0")] == 5
    assert samples[("w_count", "")] == 6 and samples[("w_sum", "")] == 1.5 + 10 + 50


def test_a_model_batch_counts_each_label_and_a_new_version_replaces_the_old() -> None:
    metrics = Metrics()
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]], dtype=np.float32)
    metrics.model_loaded("v1")
    metrics.model_batch("v1", ["a", "b"], probs, padded_length=16, seconds=0.01)
    metrics.model_loaded("v2")
    text = metrics.exposition().decode()
    assert 'newsclf_articles_labeled_total{label="a",model_version="v1"} 2.0' in text
    assert 'newsclf_articles_labeled_total{label="b",model_version="v1"} 1.0' in text
    assert 'newsclf_model_info{version="v2"} 1.0' in text and 'newsclf_model_info{version="v1"}' not in text
    assert 'newsclf_confidence_count{model_version="v1"} 3.0' in text
