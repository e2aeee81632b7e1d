"""Feeds in: store the articles, create a job, publish classification tasks.

The database comes first: rows are stored and committed before their ids are
published, so whatever Redis loses, ``reconcile`` can rebuild from SQL::

    report = enqueue_feeds(["feed.rss"], sessions=sessions, publisher=publisher, settings=settings)
    report.job_id

Reading streams (a 100,000-row file is never held whole in memory): rows go
to the database in chunks (64 rows first, so workers start at once, doubling
up to ``STORE_CHUNK``), and each stored chunk's ids that
still need the active model's label go out in messages of ``task_chunk`` ids.
A second thread stores and publishes each chunk while the next one is read.

The job is created with the first stored chunk (a feed without a single row
makes none) and stays ``enqueuing`` until the last one; each chunk's
transaction also writes the job's counts, so they are true at every moment.
A ``StopFlag`` (set by the CLI's signal handlers) ends an enqueue early: the
rows read so far are stored and published, the job is marked ``interrupted``,
and running the same command again resumes (stored rows are recognized).

Long because reading, storing and publishing are one pipeline over one report
and one stop flag; the SQL is in ``schema.articles``, ``schema.jobs`` and
``schema.job_lines``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from newsclf.errors import InputError, NoModelError, ServiceUnavailable
from newsclf.schema.articles import articles_needing_label, upsert_articles
from newsclf.schema.job_lines import add_job_articles, add_job_other_lines
from newsclf.schema.jobs import (
    REPORT_MAX_ENTRIES,
    create_job,
    end_enqueue,
    finish_jobs_if_done,
    interrupt_enqueuing_job,
    job_status,
    make_job_report,
    set_job_counts,
)
from newsclf.schema.models import SOURCE_MAX_CHARS
from newsclf.schema.registry import active_model_version
from newsclf.settings import Settings
from newsclf.worker.fetch import FetchPolicy, mask_feed_url
from newsclf.worker.ingest import FeedRow, Item, Rejected, content_sha256, read_feed

if TYPE_CHECKING:  # the protocol only; publishing imports Celery
    from newsclf.worker.publish import Publisher

STORE_CHUNK = 512
"""Rows stored per transaction while reading a feed (two messages of the default ``task_chunk``)."""

FIRST_CHUNK = 64
"""Rows in the first transaction: workers get their first articles at once, and
each chunk after that doubles up to ``STORE_CHUNK``."""

class StopFlag:
    """A request to end an enqueue early: a signal handler calls ``request``.

    ``enqueue_feeds`` checks it before each row, and ``CeleryPublisher`` while it
    waits for a broker. While the flag is ``interruptible`` (the main thread is
    inside the feed reader, which a slow pipe can block), ``request`` also raises
    ``KeyboardInterrupt`` there at once: the rows read before are kept, the one
    being read is not. It runs in the main thread, as signal handlers do.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None
        """The first signal that asked to stop (None: asked by code, or not at all)."""
        self.interruptible = False

    def request(self, signum: int | None = None) -> None:
        if not self._event.is_set():
            self.signum = signum
        self._event.set()
        if self.interruptible:
            self.interruptible = False
            raise KeyboardInterrupt

    def is_set(self) -> bool:
        return self._event.is_set()


@dataclass
class EnqueueReport:
    job_id: int
    """0 until the job exists (with the first stored rows)."""
    source: str
    total: int = 0
    new: int = 0
    duplicate: int = 0
    rejected: int = 0
    published: int = 0
    model_version: str = ""
    rejected_rows: list[dict[str, object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unqueued: int = 0
    """Stored articles not published because the broker was unreachable."""
    broker_error: str = ""
    interrupted: bool = False
    """Stopped (``StopFlag``) before the end of the feed: the job holds the rows read before."""
    status: str = ""
    """The job's status when enqueue returned."""

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _open_feeds(
    sources: Sequence[str], settings: Settings, columns: Mapping[str, str] | None = None
) -> list[tuple[str, Iterator[Item]]]:
    """Open every source first: a missing file or a non-feed fails before anything is stored."""
    policy = FetchPolicy(
        allow_private=settings.allow_private_feeds, timeout_s=settings.feed_timeout_s
    )
    return [
        (
            _shown(s),
            read_feed(
                s,
                max_text_chars=settings.max_text_chars,
                long_text=settings.long_text,
                fetch_policy=policy,
                columns=columns,
            ),
        )
        for s in sources
    ]


def _shown(source: str) -> str:
    """A source as stored and reported: a URL without credentials or query string."""
    return mask_feed_url(source) if "://" in source else source


def _next_item(items: Iterator[Item], stop: StopFlag | None) -> Item | None:
    """The next item of ``items`` (None at its end); a stop request while inside the
    reader ends the feed here."""
    if stop is None:
        return next(items, None)
    try:
        stop.interruptible = True
        if stop.is_set():  # asked before: do not start another read
            raise KeyboardInterrupt
        return next(items, None)
    finally:
        stop.interruptible = False


def _feed_rows(
    report: EnqueueReport, feeds: list[tuple[str, Iterator[Item]]], stop: StopFlag | None
) -> Iterable[tuple[str, FeedRow | Rejected]]:
    """Rows and rejected rows of every feed, recording rejections and notes in ``report``;
    a stop request ends them early (``report.interrupted``)."""
    for source, items in feeds:
        label = source if len(feeds) > 1 else ""
        while True:
            try:
                item = _next_item(items, stop)
            except KeyboardInterrupt:
                if stop is None or not stop.is_set():
                    raise  # not ours: the caller's
                report.interrupted = True
                return
            if item is None:
                break
            if isinstance(item, Rejected):
                report.rejected += 1
                report.total += 1
                if len(report.rejected_rows) < REPORT_MAX_ENTRIES:
                    where = f"{label}:{item.line}" if label else item.line
                    report.rejected_rows.append({"line": where, "reason": item.reason})
                if item.line is not None:  # its row of the export (job_other_lines)
                    yield source, item
            elif isinstance(item, FeedRow):
                report.total += 1
                yield source, item
            elif len(report.notes) < REPORT_MAX_ENTRIES:  # a Notice: said, not rejected
                where = f"line {item.line}: " if item.line is not None else ""
                report.notes.append(
                    f"{Path(source).name}: {where}{item.message}"
                    if label
                    else f"{where}{item.message}"
                )


def enqueue_feeds(
    sources: Sequence[str],
    *,
    sessions: sessionmaker[Session],
    publisher: Publisher,
    settings: Settings,
    source_name: str | None = None,
    progress: Callable[[EnqueueReport], None] | None = None,
    columns: Mapping[str, str] | None = None,
    stop: StopFlag | None = None,
) -> EnqueueReport:
    """Store every good row of ``sources``, create a job, publish what needs labeling.

    ``columns``: ``--column`` mapping (``worker.columns.parse_column_mapping``).
    A feed with no row at all is an ``InputError`` and leaves no job. With ``stop``
    requested, returns early with ``report.interrupted`` (job ``interrupted``)."""
    if source_name is not None and len(source_name) > SOURCE_MAX_CHARS:
        raise InputError(f"--source is longer than {SOURCE_MAX_CHARS} characters")
    name = (
        source_name
        or ", ".join(Path(s).name if "://" not in s else _shown(s) for s in sources)[:200]
    )
    report = EnqueueReport(job_id=0, source=name)
    try:
        if stop is not None:  # nothing is stored yet: a stop may end it anywhere
            stop.interruptible = True
        feeds = _open_feeds(sources, settings, columns)
        with sessions() as session:
            active = active_model_version(session)
            if active is None:
                raise NoModelError("no model yet: train one first with `newsclf train --data FILE`")
            report.model_version = active.version
    except KeyboardInterrupt:
        if stop is None or not stop.is_set():
            raise
        report.interrupted = True
        return report
    finally:
        if stop is not None:
            stop.interruptible = False

    # One thread stores and publishes chunk k while this one reads chunk k+1:
    # the file is parsed while the database works. Chunks are stored in order,
    # one at a time, and at most one waits, so memory stays one chunk deep.
    def store(chunk: list[tuple[str, FeedRow | Rejected]], rejected: int) -> None:
        _store_and_publish(chunk, rejected, report, sessions, publisher, settings, name)

    try:
        chunk: list[tuple[str, FeedRow | Rejected]] = []
        size = FIRST_CHUNK
        storing: Future[None] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsclf-store") as writer:
            for pair in _feed_rows(report, feeds, stop):
                chunk.append(pair)
                if len(chunk) >= size:
                    if storing is not None:
                        storing.result()  # the previous chunk is stored (or its error raised)
                        if progress:
                            progress(report)
                    storing = writer.submit(store, chunk, report.rejected)
                    chunk, size = [], min(2 * size, STORE_CHUNK)
            if storing is not None:
                storing.result()
            if chunk:  # the rest; after a stop, the rows read so far
                writer.submit(store, chunk, report.rejected).result()
        # Under NEWSCLF_QUEUE_LIMIT the publisher held what did not fit: published now,
        # as room appears, while the job is still enqueuing (reconcile leaves it alone).
        drain = getattr(publisher, "drain", None)
        if drain is not None and report.job_id:
            drain(job_id=report.job_id, stop=stop.is_set if stop is not None else lambda: False)
    except BaseException:
        if report.job_id:  # stored chunks stay (their counts with them); say it stopped
            with contextlib.suppress(Exception), sessions.begin() as session:
                interrupt_enqueuing_job(session, report.job_id)
        raise

    if not report.total:
        if report.interrupted:
            return report
        raise InputError(f"no rows in {name}: nothing enqueued, no job made")
    with sessions.begin() as session:
        if not report.job_id:  # rejected rows only: the job keeps their reasons
            report.job_id = create_job(
                session, source=name, model_version=report.model_version, status="enqueuing"
            ).id
        end_enqueue(
            session,
            report.job_id,
            total=report.total,
            new=report.new,
            duplicate=report.duplicate,
            rejected=report.rejected,
            report=make_job_report(report.rejected_rows, report.notes),
            status="interrupted" if report.interrupted else "running",
        )
    # Finished in a transaction of its own, after the status is committed: a worker
    # that wrote the last predictions while the job was still enqueuing left it
    # open, and its predictions are committed before this looks (one transaction
    # for both could miss them while the worker missed the new status).
    with sessions.begin() as session:
        finish_jobs_if_done(session, [report.job_id])
        report.status = job_status(session, report.job_id)
    if progress:
        progress(report)
    if report.broker_error and not report.interrupted:
        raise ServiceUnavailable(
            f"{report.broker_error}: job {report.job_id} is stored, {report.unqueued} of its "
            "articles not queued yet; run `newsclf reconcile` once Redis is back"
        )
    return report


def _store_and_publish(
    items: list[tuple[str, FeedRow | Rejected]],
    rejected_so_far: int,
    report: EnqueueReport,
    sessions: sessionmaker[Session],
    publisher: Publisher,
    settings: Settings,
    name: str,
) -> None:
    """Store one chunk with the job's counts (``rejected_so_far``: rows rejected up to
    the chunk's end) in one transaction, then publish the ids that need a label."""
    chunk = [(s, row) for s, row in items if isinstance(row, FeedRow)]
    rejected = [(row.line, row.reason) for _, row in items if isinstance(row, Rejected)]
    rows = [
        {
            "external_id": row.external_id,
            "url": row.url,
            "title": row.title,
            "text": row.text,
            "source": row.source or name,
            "published_at": row.published_at,
            "content_sha256": content_sha256(row.text),
        }
        for _, row in chunk
    ]
    with sessions.begin() as session:
        job_id = report.job_id or create_job(
            session, source=name, model_version=report.model_version, status="enqueuing"
        ).id
        stored = upsert_articles(session, rows)
        pairs = [(aid, row.line) for (aid, _), (_, row) in zip(stored, chunk, strict=True)]
        attached = add_job_articles(session, job_id, pairs)
        add_job_other_lines(session, job_id, pairs, attached, rejected)
        # A new article has no prediction and has not failed: only an older one seen
        # for the first time in this job needs a look (a repeat within the job was
        # queued, or not, already).
        new = {aid for aid, is_new in stored if is_new}  # each new one is new once
        older = sorted(attached - new)
        todo = sorted(new.union(articles_needing_label(session, older, report.model_version)))
        counts = (report.new + len(new), report.duplicate + len(stored) - len(new))
        set_job_counts(
            session, job_id, new=counts[0], duplicate=counts[1], rejected=rejected_so_far
        )
    report.job_id, (report.new, report.duplicate) = job_id, counts
    if report.broker_error:  # the broker stayed down: store the rest, reconcile queues it
        report.unqueued += len(todo)
        return
    if hasattr(publisher, "bind_job"):  # a LimitedPublisher: which job it holds back for
        publisher.bind_job(job_id)
    for i in range(0, len(todo), settings.task_chunk):
        try:
            publisher.publish(todo[i : i + settings.task_chunk])
        except ServiceUnavailable as exc:
            report.broker_error = str(exc)
            report.unqueued += len(todo) - i
            return
        report.published += len(todo[i : i + settings.task_chunk])
