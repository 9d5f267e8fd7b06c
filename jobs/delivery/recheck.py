"""Delivery checks each handed-off row again on-prem before it opens a contact. Whoever can
write `lake/handoff/` (the lake side) could queue any token with any campaign and parameters,
so nothing the lake says is taken on trust:

- the (campaign, variant, channel) is one of the checked campaign files' (conf/campaigns/,
  the same parser and checker as `offerlake dsl check`; a campaign with an error has none), and
  the row's parameters are exactly that variant's (names, values and types);
- the customer's own record in raw/crm_clients (on-prem, the bank's) still opts in to the
  channel and not out of the campaign's topic.
Erasure is checked by delivery itself (the vault's erasure records). A row that fails is
`refused` with its reason, and nothing is opened or sent for it.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from dsl.program import campaign_files, load_program
from dsl.vocabulary import Vocabulary
from jobs.match.campaigns import parameters
from jobs.privacy.spark_crypto import normalized
from jobs.privacy.vault import Vault
from jobs.runtime.context import RunContext

CRM = "raw/crm_clients"
CHANNELS = ("email", "sms", "push")


def offered(spark: SparkSession, conf_dir: Path) -> DataFrame:
    """(campaign, variant, channel, _parameters, _topic) of every valid campaign's variants."""
    program = load_program(campaign_files(conf_dir), Vocabulary.load(conf_dir))
    rows = [
        (c.name, v.name, channel, parameters(v), c.topic)
        for c in program.valid()
        for v in c.variants
        for _, channel in v.channels
    ]
    schema = "campaign string, variant string, channel string, _parameters string, _topic string"
    return spark.createDataFrame(rows, schema)


def preferences(ctx: RunContext, vault: Vault, tokens: DataFrame) -> DataFrame:
    """(client_id token, _on_file, _opt_in_<channel>..., _topics_opt_out) from the customers'
    raw CRM records, for the tokens (column client_id) asked: their clear ids are found by
    blind index, never by opening a token."""
    raw = ctx.read(CRM).select(
        normalized(F.col("client_id")).alias("value"),
        *[F.col(f"opt_in_{c}").alias(f"_opt_in_{c}") for c in CHANNELS],
        F.col("topics_opt_out").alias("_topics_opt_out"),
    )
    ids = vault.known(raw.select(F.lit("client").alias("kind"), "value")).select("value", "token")
    wanted = tokens.select(F.col("client_id").alias("token")).distinct()
    return (
        raw.join(ids.join(wanted, "token"), "value")
        .drop("value")
        .withColumnRenamed("token", "client_id")
        .withColumn("_on_file", F.lit(True))
    )


def refusal() -> Column:
    """Why a row joined with `offered` and `preferences` is refused; null when it is not."""
    channel = F.col("channel")
    opted_in = F.coalesce(
        *[F.when(channel == c, F.col(f"_opt_in_{c}")) for c in CHANNELS], F.lit(None)
    )
    return (
        F.when(
            F.col("_parameters").isNull(),
            F.concat(
                F.lit("campaign "),
                F.col("campaign"),
                F.lit(" has no variant "),
                F.col("variant"),
                F.lit(" on channel "),
                channel,
                F.lit(" in the checked campaign files"),
            ),
        )  # fmt: skip
        .when(
            ~F.col("parameters").eqNullSafe(F.col("_parameters")),
            F.lit("parameters differ from the campaign file's"),
        )
        .when(F.col("_on_file").isNull(), F.lit("no customer record on-prem"))
        .when(~F.coalesce(opted_in, F.lit(False)), F.concat(F.lit("no opt-in for "), channel))
        .when(
            F.coalesce(F.array_contains("_topics_opt_out", F.col("_topic")), F.lit(False)),
            F.concat(F.lit("opted out of topic "), F.col("_topic")),
        )
    )


def checked(ctx: RunContext, vault: Vault, rows: DataFrame) -> DataFrame:
    """rows + `_refused` (the reason, or null)."""
    known = offered(ctx.spark, Path(ctx.config.conf_dir))
    prefs = preferences(ctx, vault, rows)
    joined = rows.join(F.broadcast(known), ["campaign", "variant", "channel"], "left").join(
        prefs, "client_id", "left"
    )
    extra = [c for c in joined.columns if c not in rows.columns]
    return joined.withColumn("_refused", refusal()).drop(*extra)
