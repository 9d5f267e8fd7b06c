"""Stage `ingest`: every feed in conf/sources/ from landing into raw and quarantine.

Feeds run one after another in one Spark session; a feed that fails (an unreadable file, a
database that cannot be reached) is reported with its error and the other feeds still ingest.
"""

from __future__ import annotations

import importlib
import logging
import re

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException

from jobs.errors import OfferlakeError
from jobs.ingest.engine import ingest_feed
from jobs.ingest.retention import purge_landing
from jobs.ingest.sources import FeedSpec, load_sources
from jobs.runtime.context import JobResult, RunContext

log = logging.getLogger(__name__)


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


def run(
    ctx: RunContext, feeds: list[str] | None = None, formats: dict[str, str] | None = None
) -> list[JobResult]:
    """Ingest the chosen feeds (default: all) with their configured (or given) formats."""
    results, done = [], []
    for feed in load_sources(ctx.config.conf_dir, formats):
        if feeds is not None and feed.name not in feeds:
            continue
        try:
            results.extend(run_feed(ctx, feed))
            done.append(feed)
        except (OfferlakeError, PySparkException, Py4JJavaError, OSError) as exc:
            log.error("feed %s failed: %s", feed.name, type(exc).__name__)
            results.append(JobResult("", 0, 0, feed=feed.name, error=_short(exc)))
    purge_landing(ctx, done)
    return results
