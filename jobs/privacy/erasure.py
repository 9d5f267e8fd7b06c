"""Right to be forgotten: `offerlake vault erase --client-id ID` or `--client-ids-file FILE`.

1. Plan: find each customer's token by blind index (the id is never stored in clear), and what
   goes with them: the values of other kinds `erasure.linked` in conf/privacy.yaml finds in raw
   (their accounts, cards, card-feed user, devices, web visitor ids), except values a customer
   outside the erasure shares; their tokens; and their identifying text (to find in quarantined
   records). The plan is written to `onprem/erasure/<id>.json` (0600, fsync'd) before anything
   is deleted: raw rows are the only place linked values can be found, so after a crash the
   re-run reads the plan, not raw.
2. Delete every row holding one of those values: raw by clear value (a MERGE with a table of
   the values: the Delta log's text names columns, never a value), stage by token (stage
   tables without a raw twin, such as contact_reachability, and analytics tables by token in
   any text column), quarantine by identifying text (decoded, whole words:
   jobs/privacy/mentions.py); then VACUUM the tables that lost rows so no old file still has
   them; handoff runs holding a token are rewritten without its rows, and outbox files without
   the customers' messages.
3. Crypto-shred: destroy the data keys of the personal tokens and delete their encrypted
   contacts, blank every erased token's encrypted value (and vacuum the vault's history).
4. Keep an erasure record per token (token, kind, time, tables, rows) with no personal data,
   then delete the plan.
Each step can be done again: a crash anywhere, then any `vault erase`, finishes the plan first.
Many customers in one command cost about what one does: one plan, one delete per table.
Afterwards detokenizing any of those tokens fails with a message saying the customer was erased.
Landing files are not rewritten: they are deleted by the landing retention (conf/lake.yaml).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass
from functools import reduce
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from jobs.delivery import handoff, lines
from jobs.privacy import mentions, purges
from jobs.privacy.gate import raw_tables, tokenized_columns
from jobs.privacy.policy import PrivacyPolicy
from jobs.privacy.spark_crypto import normalized
from jobs.privacy.vault import Vault, VaultError
from jobs.privacy.vault_store import vacuum
from jobs.runtime import delta_io
from jobs.runtime import quarantine as quarantine_rows
from jobs.runtime.context import RunContext
from jobs.runtime.faults import commit_point, kill_point
from jobs.runtime.zones import Zone

log = logging.getLogger(__name__)

KIND = "client"


@dataclass(frozen=True)
class Erasure:
    tokens: tuple[str, ...]  # the customers' tokens
    rows_deleted: dict[str, int]  # "raw/crm_clients" -> rows
    linked: dict[str, int]  # kind -> values erased with the customers
    resumed: int = 0  # plans of interrupted erasures finished first

    @property
    def token(self) -> str:
        return self.tokens[0]


def linked_values(
    ctx: RunContext, policy: PrivacyPolicy, raws: dict, client_ids: set[str]
) -> dict[str, dict[str, str]]:
    """kind -> {clear value: the erased customer it belongs to}, for the values of the erased
    customers that no other customer shares."""
    for name, df in raws.items():
        df.createOrReplaceTempView(name)
    found: dict[str, dict[str, str]] = {}
    try:
        for kind, query in policy.linked.items():
            try:
                pairs = ctx.spark.sql(query)
            except AnalysisException as e:
                log.info("erasure.linked.%s: not in this raw zone (%s)", kind, e.getErrorClass())
                continue
            owner = normalized(F.col("client_id"))
            pairs = pairs.select(
                normalized(F.col("value")).alias("value"),
                owner.alias("owner"),
                owner.isin(*client_ids).alias("erased"),
            ).where(F.col("value").isNotNull() & (F.col("value") != ""))
            owners = pairs.groupBy("value").agg(
                F.bool_and("erased").alias("only_erased"), F.min("owner").alias("owner")
            )
            values = {r.value: r.owner for r in owners.where("only_erased").collect()}
            if values:
                found[kind] = values
    finally:
        for name in raws:
            ctx.spark.catalog.dropTempView(name)
    return found


def _any(conditions: list[Column]) -> Column | None:
    return reduce(lambda a, b: a | b, conditions) if conditions else None


def _commit_deleted(table: DeltaTable, path: str, before: int, touched: list[str]) -> int:
    """Rows the table's last commit deleted (its metrics: the table is scanned once), 0 when
    nothing was committed since `before`. A table that lost rows joins `touched`."""
    commit_point(path)
    last = table.history(1).first()
    if last.version == before or last.operation not in ("DELETE", "MERGE"):
        return 0
    metrics = last.operationMetrics
    rows = int(metrics.get("numDeletedRows", metrics.get("numTargetRowsDeleted", "0")))
    if rows:
        touched.append(path)
    return rows


def _delete(ctx: RunContext, ref: str, condition: Column | None, touched: list[str]) -> int:
    """Delete the rows matching condition (on tokens only: the condition's text is kept in
    the table's log); the number deleted."""
    if condition is None:
        return 0
    path = ctx.path(ref)
    table = DeltaTable.forPath(ctx.spark, path)
    before = table.history(1).first().version
    table.delete(condition)
    return _commit_deleted(table, path, before, touched)


def _delete_joined(
    ctx: RunContext, ref: str, source: DataFrame, on: Column, touched: list[str]
) -> int:
    """Delete the rows of `ref` (alias t) that join a row of `source` (alias s): a MERGE whose
    only clause deletes. Clear values stay in the source table, never in a predicate, so the
    DELETE's text in the Delta log names columns only."""
    if source.isEmpty():
        return 0
    path = ctx.path(ref)
    table = DeltaTable.forPath(ctx.spark, path)
    before = table.history(1).first().version
    table.alias("t").merge(F.broadcast(source).alias("s"), on).whenMatchedDelete().execute()
    return _commit_deleted(table, path, before, touched)


def _delete_raw(
    ctx: RunContext, policy: PrivacyPolicy, name: str, raw: DataFrame, subject: dict, touched
) -> int:
    """Delete raw rows holding one of the subject's clear values: one join per tokenized
    column with a table of that column's values."""
    deleted = 0
    for column, kind in tokenized_columns(policy, name, raw.columns).items():
        if kind not in subject:
            continue
        values = ctx.spark.createDataFrame([(v,) for v in subject[kind]], "value string")
        on = normalized(F.col(f"t.`{column}`")) == F.col("s.value")
        deleted += _delete_joined(ctx, f"raw/{name}", values, on, touched)
    return deleted


def _raw_condition(policy: PrivacyPolicy, name: str, raw: DataFrame, subject: dict) -> Column:
    """True for a raw row holding one of the subject's values (a read's filter, kept out of
    any Delta commit: deletes join a table of the values, see `_delete_raw`)."""
    columns = tokenized_columns(policy, name, raw.columns)
    return _any(
        [normalized(F.col(c)).isin(*subject[k]) for c, k in columns.items() if k in subject]
    )


def _stage_condition(policy: PrivacyPolicy, name: str, raw: DataFrame, tokens: dict) -> Column:
    outputs = [
        (action.output, action.arg)
        for column in raw.columns
        for action in policy.actions(name, column)
        if action.verb == "tokenize"
    ]
    return _any([F.col(c).isin(*tokens[k].values()) for c, k in outputs if tokens.get(k)])


def _identifying_text(policy: PrivacyPolicy, name: str, rows: DataFrame) -> set[str]:
    """The subject's clear values in a raw table, to find in free text (jobs/privacy/mentions)."""
    verbs = {"tokenize", "encrypt", "mask"}
    columns = [
        c
        for c in rows.columns
        if not c.startswith("_")  # lineage (a file's name) is shared by the file's customers
        and (
            any(a.verb in verbs for a in policy.actions(name, c))
            or f"{name}.{c}" in policy.identifying_drops
        )
    ]
    if not columns:
        return set()
    values = rows.select(F.explode(F.array(*[normalized(F.col(c)) for c in columns])).alias("v"))
    values = values.where(F.col("v").isNotNull() & (F.col("v") != "")).distinct()
    return {r.v for r in values.collect()}


def _holding(df: DataFrame, tokens: list[str]) -> Column | None:
    """True for a row with one of the tokens in any text column."""
    text = [f.name for f in df.schema if isinstance(f.dataType, StringType)]
    return _any([F.coalesce(F.col(c).isin(*tokens), F.lit(False)) for c in text])


def _erase_handoffs(ctx: RunContext, tokens: list[str]) -> dict[str, int]:
    """Rewrite each handoff run (Parquet + manifest) that holds the tokens without those rows,
    with a new manifest; the old files are deleted, not kept as versions."""
    root = ctx.zone_path(Zone.HANDOFF)
    deleted = {}
    for run in delta_io.list_folders(ctx.spark, root):
        try:
            rows = ctx.spark.read.parquet(f"{root}/{run}")
        except AnalysisException:  # an empty folder (a crashed export) holds nothing
            continue
        condition = _holding(rows, tokens)
        hits = rows.where(condition).count() if condition is not None else 0
        if hits:
            handoff.export(ctx, rows.where(~condition), run)
            deleted[f"handoff/{run}"] = hits
    return deleted


def _message_ids(ctx: RunContext, folder: Path, tokens: set[str]) -> set[str]:
    """Ids of the messages delivery made for these tokens: the sent ledger's rows, and the
    journals not folded into it yet (a crashed delivery)."""
    ids: set[str] = set()
    ledger = str(folder / "ledger")
    if delta_io.is_delta(ctx.spark, ledger):
        rows = ctx.spark.read.format("delta").load(ledger)
        rows = rows.where(F.col("client_id").isin(*tokens) & F.col("message_id").isNotNull())
        ids |= {r.message_id for r in rows.select("message_id").distinct().collect()}
    for journal in sorted((folder / "journal").glob("*.jsonl")):
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                body = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash
            if body.get("client_id") in tokens and body.get("message_id"):
                ids.add(body["message_id"])
    return ids


def _erase_outbox(ctx: RunContext, plan: Plan) -> dict[str, int]:
    """Rewrite each outbox file without the customers' messages: those delivery made for their
    tokens, and any line mentioning one of their clear values (a contact, a name)."""
    folder = Path(ctx.zone_path(Zone.DELIVERY))
    ids = _message_ids(ctx, folder, set(plan.all_tokens))
    mentioned = mentions.python_pattern(plan.identifying)

    def theirs(line: str) -> bool:
        try:
            if json.loads(line).get("message_id") in ids:
                return True
        except (ValueError, AttributeError):
            pass  # a torn line is still searched
        return bool(mentioned and mentioned.search(line))

    deleted = {}
    for path in sorted((folder / "outbox").glob("*.jsonl")):
        n = lines.rewrite_without(path, theirs)
        if n:
            deleted[f"outbox/{path.stem}"] = n
    return deleted


@dataclass
class Plan:
    """What one erasure removes, written on-prem before the first delete (see the module)."""

    erasure_id: str
    clients: dict[str, str]  # clear client id -> token
    subject: dict[str, list[str]]  # kind -> clear values (the client ids among them)
    tokens: dict[str, dict[str, str]]  # kind -> {clear value: token}
    owners: dict[str, str]  # token -> the client token it is erased with
    identifying: list[str]  # clear text to find in quarantined records
    done: list[str]  # steps finished
    deleted: dict[str, int]  # ref -> rows deleted
    touched: list[str]  # tables that lost rows (vacuumed in step `vacuum`)

    @staticmethod
    def folder(ctx: RunContext) -> Path:
        return Path(ctx.zone_path(Zone.ERASURE))

    def path(self, ctx: RunContext) -> Path:
        return self.folder(ctx) / f"{self.erasure_id}.json"

    def save(self, ctx: RunContext) -> None:
        """Replace the plan file whole: a temporary file, fsync'd, then renamed."""
        folder = self.folder(ctx)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{self.erasure_id}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path(ctx))

    @classmethod
    def pending(cls, ctx: RunContext) -> list[Plan]:
        folder = cls.folder(ctx)
        return [cls(**json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]

    @property
    def all_tokens(self) -> list[str]:
        return sorted({t for by_value in self.tokens.values() for t in by_value.values()})


def read_client_ids(path: Path) -> list[str]:
    """One client id per line; blank lines and `#` comments skipped."""
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise VaultError(f"{path}: {e.strerror}") from None
    ids = [line.split("#", 1)[0].strip() for line in lines]
    return list(dict.fromkeys(i for i in ids if i))


def erase_clients(ctx: RunContext, policy: PrivacyPolicy, client_ids: list[str]) -> Erasure:
    """Erase these customers in one plan, after finishing any interrupted erasure."""
    with Vault.open(ctx, policy, job="erasure") as vault:  # alone: it shreds keys
        purges.run_due(ctx, policy.lake_purge_after_hours)
        resumed = Plan.pending(ctx)
        for plan in resumed:
            log.warning("erasure %s was interrupted: finishing it first", plan.erasure_id)
            _carry_out(ctx, policy, vault, plan)
        done = {c for p in resumed for c in p.clients}
        wanted = [c.strip() for c in client_ids if c.strip() not in done]
        if not wanted:
            plan = resumed[-1]
            return _summary(plan, len(resumed))
        plan = _plan(ctx, policy, vault, wanted)
        kill_point("erase:planned")
        _carry_out(ctx, policy, vault, plan)
        return _summary(plan, len(resumed))


def _summary(plan: Plan, resumed: int) -> Erasure:
    linked = {k: len(v) for k, v in plan.subject.items() if k != KIND}
    return Erasure(tuple(plan.clients.values()), plan.deleted, linked, resumed)


def _plan(ctx: RunContext, policy: PrivacyPolicy, vault: Vault, client_ids: list[str]) -> Plan:
    found = vault.tokens_of({KIND: set(client_ids)}).get(KIND, {})
    unknown = [c for c in client_ids if c not in found]
    if unknown:
        raise VaultError(
            f"{len(unknown)} of the client ids have no {KIND} token in the vault "
            "(nothing was erased)"
        )
    erased = vault.erased_tokens([found[c] for c in client_ids])
    if erased:
        raise VaultError(
            f"token(s) {', '.join(sorted(erased))}: already erased (nothing was erased)"
        )
    raws = raw_tables(ctx)
    linked = linked_values(ctx, policy, raws, set(client_ids))
    subject = {KIND: sorted(client_ids)} | {k: sorted(v) for k, v in linked.items()}
    tokens = vault.tokens_of({k: set(v) for k, v in subject.items()})
    owners = {found[c]: found[c] for c in client_ids}
    for kind, values in linked.items():
        for value, client in values.items():
            if value in tokens.get(kind, {}):
                owners.setdefault(tokens[kind][value], found[client])
    identifying: set[str] = set()
    for name, raw in sorted(raws.items()):
        condition = _raw_condition(policy, name, raw, subject)
        if condition is not None:
            identifying |= _identifying_text(policy, name, raw.where(condition))
    plan = Plan(
        erasure_id=uuid.uuid4().hex, clients={c: found[c] for c in client_ids}, subject=subject,
        tokens=tokens, owners=owners, identifying=sorted(identifying), done=[], deleted={},
        touched=[],
    )  # fmt: skip
    plan.save(ctx)
    return plan


def _step(ctx: RunContext, plan: Plan, name: str, work) -> None:
    """Do a step of the plan unless it is done; then record it done (fsync'd)."""
    if name in plan.done:
        return
    started = time.monotonic()
    work()
    log.info("erasure %s: %s done in %.1f s", plan.erasure_id, name, time.monotonic() - started)
    plan.done.append(name)
    plan.save(ctx)
    kill_point(f"erase:after-{name}")


def _carry_out(ctx: RunContext, policy: PrivacyPolicy, vault: Vault, plan: Plan) -> None:
    _step(ctx, plan, "rows", lambda: _delete_rows(ctx, policy, plan))
    _step(ctx, plan, "vacuum", lambda: _vacuum(ctx, policy, plan))
    _step(ctx, plan, "shred", lambda: vault.shred(_kinds(plan)))
    _step(ctx, plan, "record", lambda: _record(vault, plan))
    plan.path(ctx).unlink()


# zones whose every writer holds the vault's lock: vacuumed at 0 hours at once; the others
# (analytics) when no job can still be writing them (jobs/privacy/purges.py)
LOCKED_ZONES = (Zone.RAW, Zone.QUARANTINE, Zone.STAGE)


def _vacuum(ctx: RunContext, policy: PrivacyPolicy, plan: Plan) -> None:
    locked = tuple(f"{ctx.zone_path(zone)}/" for zone in LOCKED_ZONES)
    now = [t for t in plan.touched if t.startswith(locked)]
    vacuum(ctx.spark, now)
    later = [t for t in plan.touched if t not in now]
    purges.schedule(ctx, later, policy.lake_purge_after_hours)


def _kinds(plan: Plan) -> dict[str, str]:
    """{token: kind} of every token the plan erases."""
    return {t: kind for kind, by_value in plan.tokens.items() for t in by_value.values()}


def _record(vault: Vault, plan: Plan) -> None:
    tables = ", ".join(f"{t} {n}" for t, n in plan.deleted.items() if n)
    if len(plan.clients) > 1:
        tables = f"erased with {len(plan.clients) - 1} other customer(s): {tables}"
    vault.record_erasures(_kinds(plan), plan.owners, tables, sum(plan.deleted.values()))


def _delete_rows(ctx: RunContext, policy: PrivacyPolicy, plan: Plan) -> None:
    """Every row holding one of the plan's values, in each zone; counts and touched tables go
    into the plan. Deleting again deletes nothing more: a re-run after a crash is safe."""
    raws = raw_tables(ctx)
    all_tokens = plan.all_tokens
    stage_tables = set(delta_io.list_tables(ctx.spark, ctx.zone_path(Zone.STAGE)))
    deleted, touched = plan.deleted, plan.touched

    clock = [time.monotonic()]

    def count(ref: str, n: int) -> None:
        deleted[ref] = deleted.get(ref, 0) + n
        plan.save(ctx)  # a crash loses no count of a commit already made (but the last)
        now = time.monotonic()
        log.info("erasure: %s: %d row(s) deleted in %.1f s", ref, n, now - clock[0])
        clock[0] = now

    for name, raw in sorted(raws.items()):
        kinds = tokenized_columns(policy, name, raw.columns).values()
        if not any(k in plan.subject for k in kinds):
            continue
        count(f"raw/{name}", _delete_raw(ctx, policy, name, raw, plan.subject, touched))
        if name in stage_tables:
            stage = _stage_condition(policy, name, raw, plan.tokens)
            count(f"stage/{name}", _delete(ctx, f"stage/{name}", stage, touched))
        kill_point(f"erase:raw-{name}")
    derived = [f"stage/{n}" for n in sorted(stage_tables - set(raws))]  # contact_reachability
    analytics = delta_io.list_tables(ctx.spark, ctx.zone_path(Zone.ANALYTICS))
    for ref in derived + [f"analytics/{n}" for n in analytics]:
        count(ref, _delete(ctx, ref, _holding(ctx.read(ref), all_tokens), touched))
    for ref, n in {**_erase_handoffs(ctx, all_tokens), **_erase_outbox(ctx, plan)}.items():
        count(ref, n)
    quarantine = ctx.zone_path(Zone.QUARANTINE)
    for name in delta_io.list_tables(ctx.spark, quarantine) if plan.identifying else []:
        ref = f"quarantine/{name}"
        records = ctx.read(ref)
        text = mentions.record_text(F.col("original"), F.col("original_encoding"))
        found = mentions.mentioning(ctx.spark, records, text, plan.identifying)
        keys = found.select(*quarantine_rows.KEYS)
        on = reduce(lambda a, b: a & b, [F.col(f"t.{k}") == F.col(f"s.{k}") for k in keys.columns])
        count(ref, _delete_joined(ctx, ref, keys, on, touched))
    plan.touched = sorted(set(touched))
