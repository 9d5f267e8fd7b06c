"""What the gate has gated, so a day re-gates only what the day brought.

raw/_gate_log (on-prem, no personal data) holds one row per raw table and ingest run: how many
raw rows of that run the last gate saw, and the fingerprint they were gated under (the table's
policy, its generalizers and kinds, the lineage rules, the raw schema and the gate's version).

A table goes by ingest run when its stage rows depend on nothing but their own raw row:
- the runs whose raw row count differs from the log's (a new run; a run some of whose rows a
  later delivery replaced; a run an erasure deleted rows from; a run gone whole) are re-gated:
  their stage rows are replaced (Delta replaceWhere on `_ingest_run`) by the gate of their raw
  rows as they are now;
- the other runs' stage rows stay as they are: their raw rows are the ones gated before.
A table is gated whole, as before, when that cannot hold: k-anonymity (a group spans the whole
table), consent (a customer's flag changes their every row), `not_before` (rows wait for the
run date), an age band from a birth date (ages move with the run date), no log yet, or a
fingerprint that changed. Stage then equals a full re-gate either way (tested).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, TimestampType

from jobs.privacy.policy import PrivacyPolicy
from jobs.runtime import delta_io
from jobs.runtime.context import RunContext

LOG = "raw/_gate_log"
LOG_SCHEMA = "table string, ingest_run string, rows long, fingerprint string"
RUN = "_ingest_run"
VERSION = "1"  # bump when the gate's transform changes what a row becomes


@dataclass(frozen=True)
class Plan:
    """How the gate takes one raw table this run: whole (`runs` None, and why), or the ingest
    runs to re-gate (maybe none)."""

    name: str
    fingerprint: str
    counts: dict[str, int]  # raw rows per ingest run, as gated this run
    runs: tuple[str, ...] | None
    reason: str

    def rows(self, raw: DataFrame) -> DataFrame:
        """The raw rows this run gates."""
        if self.runs is None:
            return raw
        return raw.where(F.col(RUN).isin(list(self.runs)))

    @property
    def replace_where(self) -> str | None:
        if self.runs is None:
            return None
        quoted = ", ".join("'" + run.replace("'", "''") + "'" for run in self.runs)
        return f"{RUN} IN ({quoted})"


def fingerprint(policy: PrivacyPolicy, name: str, raw: DataFrame) -> str:
    table = policy.table(name)
    actions = [a for acts in table.columns.values() for a in acts]
    used = sorted({a.arg for a in actions if a.verb == "generalize"})
    kinds = sorted({a.arg for a in actions if a.verb == "tokenize"})
    text = json.dumps(
        {
            "version": VERSION,
            "table": repr(table),
            "generalizers": [repr(policy.generalizers[g]) for g in used],
            "kinds": [repr(policy.kinds[k]) for k in kinds if k in policy.kinds],
            "lineage": repr(sorted(policy.lineage.items())),
            "schema": raw.schema.simpleString(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def whole_because(policy: PrivacyPolicy, name: str, raw: DataFrame) -> str | None:
    """Why a table's stage rows depend on more than their own raw row, or None."""
    if RUN not in raw.columns:
        return "raw has no ingest runs"
    if not any(a.verb == "keep" and a.output == RUN for a in policy.lineage.get(RUN, ())):
        return "stage keeps no ingest run"
    if name in policy.k_anonymity:
        return "k-anonymity spans the table"
    if name in policy.consent:
        return "consent is read for every row"
    if policy.table(name).not_before:
        return "rows wait for their date"
    for field in raw.schema:
        if not isinstance(field.dataType, DateType | TimestampType):
            continue
        for action in policy.actions(name, field.name):
            rule = policy.generalizers.get(action.arg) if action.verb == "generalize" else None
            if rule is not None and rule.type == "age_band":
                return "ages move with the run date"
    return None


def _logged(ctx: RunContext) -> dict[str, dict[str, tuple[int, str]]]:
    path = ctx.path(LOG)
    if not delta_io.is_delta(ctx.spark, path):
        return {}
    out: dict[str, dict[str, tuple[int, str]]] = {}
    for r in ctx.read(LOG).collect():
        out.setdefault(r["table"], {})[r["ingest_run"]] = (r["rows"], r["fingerprint"])
    return out


def plan(ctx: RunContext, policy: PrivacyPolicy, raws: dict[str, DataFrame]) -> dict[str, Plan]:
    """Each raw table's plan for this run, from the log and raw's rows per ingest run."""
    logged = _logged(ctx)
    plans = {}
    for name, raw in raws.items():
        mark = fingerprint(policy, name, raw)
        reason = whole_because(policy, name, raw)
        counts: dict[str, int] = {}
        if RUN in raw.columns:
            counts = {r[RUN]: r["count"] for r in raw.groupBy(RUN).count().collect()}
        before = logged.get(name, {})
        if reason is None:
            if None in counts:
                reason = "rows without an ingest run"
            elif not before:
                reason = "not gated by run before"
            elif any(fp != mark for _, fp in before.values()):
                reason = "the policy or raw schema changed"
            elif not delta_io.is_delta(ctx.spark, ctx.path(f"stage/{name}")):
                reason = "no stage table"
        runs = None
        if reason is None:
            changed = {
                r
                for r in counts.keys() | before.keys()
                if counts.get(r, 0) != before.get(r, (0, ""))[0]
            }
            runs = tuple(sorted(changed))
            reason = f"{len(runs)} of {len(counts)} ingest runs new or changed"
        plans[name] = Plan(name, mark, counts, runs, reason)
    return plans


def record(ctx: RunContext, plans: dict[str, Plan]) -> None:
    """Write the log of this run's plans, whole (one commit, after every stage table)."""
    rows = [
        (plan.name, run, count, plan.fingerprint)
        for plan in plans.values()
        for run, count in sorted(plan.counts.items())
    ]
    ctx.write(LOG, ctx.spark.createDataFrame(rows, LOG_SCHEMA), mode="overwrite")
