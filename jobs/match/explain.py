"""`offerlake dsl explain` and `offerlake dsl simulate`: for campaign authors, before delivery.

- explain: one customer (token) against one campaign, rule by rule: the customer's values of
  the names each rule reads and whether it holds; then the variant chosen;
- simulate: the day's matching without writing anything: candidates per campaign, variant,
  channel and outcome, the overlap between campaigns, and (with --truth, on-prem) precision and
  recall of a campaign against the generator's planted personas.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from rich.table import Table

from dsl.ast import Campaign
from dsl.compiler import column, conjuncts, names_in, render
from jobs.errors import OfferlakeError
from jobs.match.campaigns import due, follow_ups
from jobs.match.candidates import NAMES, _trigger
from jobs.match.policy import ContactPolicy
from jobs.match.run import base_frame, latest_as_of, load_campaigns, match
from jobs.runtime.context import RunContext


class ExplainError(OfferlakeError):
    """The campaign or the customer to explain is not there."""


def _rules(campaign: Campaign, chained: bool) -> list[tuple[str, object, set[str]]]:
    """(label, column, names read) per rule, in the order the matcher applies them."""
    rules = []
    if campaign.trigger is not None:
        fired, _, _ = _trigger(campaign)
        label = f"trigger geofence {campaign.trigger.kind} {campaign.trigger.value!r} today"
        rules.append((label, fired, set()))
    for rule in conjuncts(campaign.eligible):
        rules.append((render(rule), F.coalesce(column(rule, NAMES), F.lit(False)), names_in(rule)))
    if chained:
        rules.append(("follow-up response", F.col(f"_follow_{campaign.name}"), set()))
    for v in campaign.variants:
        when = F.lit(True) if v.when is None else F.coalesce(column(v.when, NAMES), F.lit(False))
        text = "otherwise" if v.when is None else render(v.when)
        rules.append((f"variant {v.name}: {text}", when, names_in(v.when)))
    return rules


def explain(ctx: RunContext, name: str, token: str) -> Table:
    program = load_campaigns(ctx)
    try:
        campaign = program.campaign(name)
    except KeyError:
        raise ExplainError(f"no campaign named {name} in conf/campaigns") from None
    if name in program.invalid():
        raise ExplainError(f"campaign {name} has checker errors: run `offerlake dsl check`")
    as_of = latest_as_of(ctx)
    if as_of is None:
        raise ExplainError(f"no customer_360 up to {ctx.run_date}: run the model first")
    chains = follow_ups(program.valid())
    policy = ContactPolicy.load(ctx.config.conf_dir)
    base = base_frame(ctx, [campaign], chains, policy, as_of)
    rules = _rules(campaign, campaign.name in chains)
    selected = [
        F.struct(
            *[F.col(NAMES.get(n, n)).cast("string").alias(n) for n in sorted(names)],
            test.alias("_pass"),
        ).alias(f"r{i}")
        for i, (_, test, names) in enumerate(rules)
    ]
    rows = base.where(F.col("client_id") == token).select(*selected).collect()
    if not rows:
        raise ExplainError(f"no customer {token} in customer_360 of {as_of}")
    table = Table(title=f"{name} for {token} (customer_360 of {as_of})")
    for header in ("rule", "customer's values", "holds"):
        table.add_column(header)
    chosen = None
    for i, (label, _, names) in enumerate(rules):
        result = rows[0][f"r{i}"]
        values = ", ".join(f"{n} = {result[n]}" for n in sorted(names)) or "-"
        holds = bool(result["_pass"])
        if label.startswith("variant ") and holds and chosen is None:
            chosen = label.split(":")[0]
        table.add_row(label, values, "[green]yes[/green]" if holds else "[red]no[/red]")
    table.caption = f"due on {ctx.run_date}: {'yes' if due(campaign, ctx.run_date) else 'no'}"
    table.caption += f"; {chosen} would be chosen" if chosen else "; no variant fits"
    return table


def simulate(ctx: RunContext) -> tuple[DataFrame, Table, Table]:
    """(candidates with outcomes, counts table, overlap table) of the day; nothing written."""
    program = load_campaigns(ctx)
    valid = program.valid()
    todays = [c for c in valid if due(c, ctx.run_date)]
    as_of = latest_as_of(ctx)
    if as_of is None or not todays:
        raise ExplainError(f"nothing to simulate on {ctx.run_date}: no model or no campaign due")
    found = match(ctx, todays, follow_ups(valid), as_of).cache()
    counts = (
        found.groupBy("campaign", "variant", "channel", "outcome")
        .count()
        .orderBy("campaign", "variant", "channel", "outcome")
        .collect()
    )
    table = Table(title=f"candidates on {ctx.run_date} (customer_360 of {as_of})")
    for header in ("campaign", "variant", "channel", "outcome", "customers"):
        table.add_column(header, justify="right" if header == "customers" else "left")
    for r in counts:
        table.add_row(r.campaign, r.variant or "-", r.channel or "-", r.outcome, f"{r['count']:,}")
    names = [c.name for c in todays]
    pairs = found.select("client_id", "campaign").distinct()
    overlap = (
        pairs.alias("a")
        .join(pairs.alias("b"), "client_id")
        .groupBy(F.col("a.campaign").alias("a"), F.col("b.campaign").alias("b"))
        .count()
        .collect()
    )
    both = {(r.a, r.b): r["count"] for r in overlap}
    matrix = Table(title="customers eligible for both campaigns")
    matrix.add_column("")
    for n in names:
        matrix.add_column(n, justify="right")
    for a in names:
        matrix.add_row(a, *[f"{both.get((a, b), 0):,}" for b in names])
    return found, table, matrix


def planted_personas(onprem: RunContext, truth_csv: str) -> DataFrame:
    """(client_id token, persona) of the generator's truth/personas.csv: on-prem, the clear
    client ids go through the vault's blind index (tokens only, nothing de-tokenized, and no
    token minted: an id the vault does not know is left out)."""
    from jobs.privacy.policy import load_policy
    from jobs.privacy.vault import Vault
    from jobs.runtime.locks import SHARED

    truth = onprem.spark.read.csv(truth_csv, header=True)
    policy = load_policy(onprem.config.conf_dir)
    with Vault.open(onprem, policy, job="personas", lock=SHARED) as vault:
        ids = truth.select(F.lit("client").alias("kind"), F.col("client_id").alias("value"))
        tokens = vault.known(ids).select("value", "token")
        found = truth.join(tokens, F.trim(truth.client_id) == tokens.value)
        # computed while the vault is locked (tokens only)
        return found.select(F.col("token").alias("client_id"), "persona").localCheckpoint()


def accuracy(
    found: DataFrame, personas: DataFrame, campaign: str, persona: str
) -> tuple[float, float, Table]:
    """Precision and recall of a campaign's candidates (any outcome: eligibility) against the
    customers planted with a persona. personas: (client_id token, persona)."""
    chosen = found.where(F.col("campaign") == campaign).select("client_id").distinct()
    truth = personas.where(F.col("persona") == persona).select("client_id")
    hits = chosen.join(truth, "client_id").count()
    picked, planted = chosen.count(), truth.count()
    precision = hits / picked if picked else 0.0
    recall = hits / planted if planted else 0.0
    table = Table(title=f"{campaign} against the planted {persona} customers")
    for header in ("eligible", "planted", "both", "precision", "recall"):
        table.add_column(header, justify="right")
    table.add_row(f"{picked:,}", f"{planted:,}", f"{hits:,}", f"{precision:.3f}", f"{recall:.3f}")
    return precision, recall, table
