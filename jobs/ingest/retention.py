"""Landing retention: delete delivery folders that are fully ingested and older than the limit.

A delivery is deleted only when every file a table of its feed reads from it is in the ingest
ledger: a file that failed or was never loaded keeps its whole folder. Raw and quarantine keep
what the files held. This is also how an erased customer's original files leave the bank's
landing zone (`vault erase` does not edit delivered files).
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path

from jobs.ingest import ledger
from jobs.ingest.landed import deliveries, landed_files
from jobs.ingest.sources import FeedSpec
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Zone

log = logging.getLogger(__name__)


def pending_files(ctx: RunContext, feed: FeedSpec, delivery: Path) -> list[str]:
    """Files of this delivery that a table of the feed reads and the ledger does not hold."""
    pending = []
    for table in feed.tables:
        if table.reader == "jdbc":  # a snapshot of the source database, read by watermark
            continue
        done = ledger.ingested_checksums(ctx, table.name)
        pending += [
            f.relative for f in landed_files(delivery, table.files) if f.checksum not in done
        ]
    return pending


def purge_landing(ctx: RunContext, feeds: list[FeedSpec]) -> list[str]:
    """Delete the feeds' ingested deliveries dated retention days or more before the run date."""
    root = ctx.zone_path(Zone.LANDING)
    if "://" in root:  # object stores expire deliveries with lifecycle rules instead
        return []
    cutoff = ctx.run_date - timedelta(days=ctx.config.landing_retention_days)
    purged = []
    for feed in feeds:
        for delivery in deliveries(Path(root), feed.name, cutoff):
            pending = pending_files(ctx, feed, delivery)
            if pending:
                log.warning(
                    "landing %s/%s kept: %d files not ingested",
                    feed.name,
                    delivery.name,
                    len(pending),
                )
                continue
            shutil.rmtree(delivery)
            purged.append(f"{feed.name}/{delivery.name}")
    if purged:
        log.info("landing retention: deleted %d deliveries: %s", len(purged), ", ".join(purged))
    return purged
