"""Prometheus metrics of a worker (and of ``newsclf run`` and beat, where they apply).

Observed once per model batch and once per merged batch, never per article: the
counts per label and the confidence histogram come from whole-array numpy steps
over the batch's probabilities (``BulkHistogram``)::

    metrics = Metrics(queue_depth=lambda: 512)
    metrics.model_loaded("v1")
    metrics.model_batch("v1", labels, probs, padded_length=120, seconds=0.2)
    metrics.merged_batch(seconds=0.9, failed=0)
    metrics.exposition()   # Prometheus text, what /metrics serves (worker.probes)

Each ``Metrics`` has a registry of its own, so tests and several classifiers in
one process never share counters.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text format's content type."""

SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
"""Articles per model call (powers of two up to past the largest batch size)."""

LENGTH_BUCKETS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048)
"""Padded length of a model call, in tokens."""

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Model call and merged batch durations."""

WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
"""Seconds an article waited in the queue, from publish to claim."""

CONFIDENCE_BUCKETS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
"""Top-class probability of each prediction."""


class BulkHistogram(Collector):
    """A Prometheus histogram that takes a whole array per observation.

    ``prometheus_client.Histogram.observe`` takes one value per Python call; a
    batch of a few hundred confidences is one ``np.searchsorted`` and one
    ``np.bincount`` here instead."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        labelnames: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(sorted(buckets), dtype=np.float64)
        self.labelnames = tuple(labelnames)
        self._series: dict[tuple[str, ...], list[Any]] = {}  # labels -> [counts, sum]
        self._lock = threading.Lock()

    def observe(
        self,
        values: Any,
        weights: Any = None,
        labels: Sequence[str] = (),
    ) -> None:
        """Add every value of ``values`` (each counted ``weights[i]`` times, default once)."""
        values = np.atleast_1d(np.asarray(values, dtype=np.float64))
        if values.size == 0:
            return
        w = None if weights is None else np.atleast_1d(np.asarray(weights, dtype=np.float64))
        # Bucket i holds values <= bounds[i]; the last one (+Inf) everything above.
        index = np.searchsorted(self.bounds, values, side="left")
        counts = np.bincount(index, weights=w, minlength=len(self.bounds) + 1)
        total = float(values.sum() if w is None else (values * w).sum())
        key = tuple(labels)
        with self._lock:
            series = self._series.setdefault(key, [np.zeros(len(self.bounds) + 1), 0.0])
            series[0] += counts
            series[1] += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        with self._lock:
            series = [(k, v[0].copy(), v[1]) for k, v in self._series.items()]
        for key, counts, total in series:
            cumulative = np.cumsum(counts)
            buckets = [(_bound(b), float(c)) for b, c in zip(self.bounds, cumulative, strict=False)]
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric(list(key), buckets, total)
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)


def _bound(value: float) -> str:
    """A bucket's ``le`` as prometheus_client writes it (``1.0``, ``0.25``)."""
    return str(floatToGoString(float(value)))


class Metrics:
    """The metrics one process exposes; see the module docstring."""

    def __init__(self, *, queue_depth: Callable[[], float] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.labeled = Counter(
            "newsclf_articles_labeled",
            "Predictions written, by model version and predicted label",
            ["model_version", "label"],
            registry=r,
        )
        self.failed = Counter(
            "newsclf_articles_failed", "Articles given up on after max_attempts", registry=r
        )
        self.batch_size = self._histogram(
            "newsclf_batch_size", "Articles per model call", SIZE_BUCKETS
        )
        self.padded_length = self._histogram(
            "newsclf_padded_length", "Tokens each text of a model call is padded to", LENGTH_BUCKETS
        )
        self.inference_seconds = self._histogram(
            "newsclf_inference_seconds", "Seconds of one model call", SECONDS_BUCKETS
        )
        self.batch_seconds = self._histogram(
            "newsclf_batch_seconds",
            "Seconds of one merged batch, from its claim to its last write",
            SECONDS_BUCKETS,
        )
        self.queue_wait_seconds = self._histogram(
            "newsclf_queue_wait_seconds",
            "Seconds an article waited in the classify queue, from publish to claim",
            WAIT_BUCKETS,
        )
        self.confidence = self._histogram(
            "newsclf_confidence",
            "Top-class probability of each prediction, by model version",
            CONFIDENCE_BUCKETS,
            ["model_version"],
        )
        self.model_info = Gauge(
            "newsclf_model_info", "1 for the model version this process serves", ["version"],
            registry=r,
        )  # fmt: skip
        self.version: str | None = None
        """The version loaded and warmed up (None: not yet); readiness reads it."""
        if queue_depth is not None:
            depth = Gauge(
                "newsclf_queue_depth",
                "Articles waiting in the classify queue (messages x task_chunk, an upper bound)",
                registry=r,
            )
            depth.set_function(_never_raising(queue_depth))

    def _histogram(
        self, name: str, doc: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> BulkHistogram:
        histogram = BulkHistogram(name, doc, buckets, labels)
        self.registry.register(histogram)
        return histogram

    # -- what the batch code calls ---------------------------------------------------

    def model_loaded(self, version: str) -> None:
        """``version`` is loaded and warmed up: it is the one served from now on."""
        if version != self.version:
            self.model_info.clear()
            self.model_info.labels(version).set(1)
            self.version = version

    def model_batch(
        self,
        version: str,
        labels: Sequence[str],
        probs: np.ndarray,
        *,
        padded_length: int,
        seconds: float,
    ) -> None:
        """One model call of ``len(probs)`` articles and what it predicted."""
        if len(probs) == 0:
            return
        top = probs.argmax(axis=1)
        for k, n in enumerate(np.bincount(top, minlength=len(labels)).tolist()):
            if n:
                self.labeled.labels(version, labels[k]).inc(n)
        self.confidence.observe(probs[np.arange(len(probs)), top], labels=(version,))
        self.batch_size.observe(len(probs))
        self.padded_length.observe(padded_length)
        self.inference_seconds.observe(seconds)

    def merged_batch(self, *, seconds: float, failed: int) -> None:
        """One merged batch (one ``Classifier.classify`` call) is written."""
        self.batch_seconds.observe(seconds)
        if failed:
            self.failed.inc(failed)

    def queue_waits(self, seconds: Sequence[float], articles: Sequence[int]) -> None:
        """Messages claimed: each one waited ``seconds[i]`` with ``articles[i]`` ids."""
        self.queue_wait_seconds.observe(np.maximum(np.asarray(seconds, float), 0.0), articles)

    def exposition(self) -> bytes:
        """The Prometheus text of every metric."""
        return generate_latest(self.registry)


class NoMetrics(Metrics):
    """Metrics off: every observation does nothing (the classifier calls them regardless)."""

    def __init__(self) -> None:
        self.version = None

    def model_loaded(self, version: str) -> None:
        self.version = version

    def model_batch(self, *args: Any, **kwargs: Any) -> None:
        return None

    def merged_batch(self, *, seconds: float, failed: int) -> None:
        return None

    def queue_waits(self, seconds: Sequence[float], articles: Sequence[int]) -> None:
        return None


def _never_raising(fn: Callable[[], float]) -> Callable[[], float]:
    """A scrape must not fail when Redis is away: the gauge reads NaN then."""

    def read() -> float:
        try:
            return float(fn())
        except Exception:  # noqa: BLE001 - a gauge, not an error path
            return math.nan

    return read
