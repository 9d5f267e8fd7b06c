"""Stage `ingest`: every feed in conf/sources/ from landing into raw and quarantine.

Feeds run two at a time in one Spark session (threads sharing it): most of a small feed's
time is driver work (Python, planning, Delta's log) that leaves the cores idle, so a second
feed's Spark tasks use them meanwhile. A feed that fails (an unreadable file, a database that
cannot be reached) is reported with its error and the other feeds still ingest.
"""

from __future__ import annotations

import importlib
import logging
import re
from concurrent.futures import ThreadPoolExecutor

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException

from jobs.errors import OfferlakeError
from jobs.ingest import erased, ledger
from jobs.ingest.engine import ingest_feed
from jobs.ingest.retention import purge_landing
from jobs.ingest.sources import FeedSpec, load_sources
from jobs.privacy.policy import load_policy
from jobs.runtime.context import JobResult, RunContext

log = logging.getLogger(__name__)
FEEDS_AT_ONCE = 2


def run_feed(ctx: RunContext, feed: FeedSpec) -> list[JobResult]:
    module = importlib.import_module(f"jobs.ingest.{feed.name}")
    if hasattr(module, "run"):
        return module.run(ctx, feed)
    return ingest_feed(ctx, feed, getattr(module, "REFINE", {}))


def _short(exc: Exception) -> str:
    if isinstance(exc, Py4JJavaError):  # the Java cause, not the py4j call stack
        text = str(exc.java_exception.toString())
    else:
        text = str(exc)
    text = re.sub(r"(password=)[^&\s;]*", r"\1***", text, flags=re.IGNORECASE)
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _attempt(ctx: RunContext, feed: FeedSpec) -> tuple[list[JobResult], bool]:
    try:
        return run_feed(ctx, feed), True
    except (OfferlakeError, PySparkException, Py4JJavaError, OSError) as exc:
        log.error("feed %s failed: %s", feed.name, type(exc).__name__)
        return [JobResult("", 0, 0, feed=feed.name, error=_short(exc))], False


def run(
    ctx: RunContext, feeds: list[str] | None = None, formats: dict[str, str] | None = None
) -> list[JobResult]:
    """Ingest the chosen feeds (default: all) with their configured (or given) formats;
    results in the order of conf/sources."""
    chosen = [
        feed
        for feed in load_sources(ctx.config.conf_dir, formats)
        if feeds is None or feed.name in feeds
    ]
    ledger.ingested_checksums(ctx, "")  # the session and the ledger's entries, before threads
    # the vault's lock, shared: an erasure (holding it alone) deletes raw and quarantine rows and
    # vacuums their files at 0 hours, which must never meet this run's uncommitted files; rows of
    # erased customers delivered again are refused (jobs/ingest/erased.py)
    policy = load_policy(ctx.config.conf_dir)
    with (
        erased.watching(ctx, policy),
        ledger.batched(ctx),
        ThreadPoolExecutor(FEEDS_AT_ONCE, thread_name_prefix="ingest") as p,
    ):
        outcomes = list(p.map(lambda feed: _attempt(ctx, feed), chosen))
    purge_landing(ctx, [feed for feed, (_, ok) in zip(chosen, outcomes, strict=True) if ok])
    return [result for results, _ in outcomes for result in results]
