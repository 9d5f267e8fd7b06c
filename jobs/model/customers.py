"""Who is who in stage: every token a source table carries, mapped to the customer's client token.

- client: the token is the customer's own (crm_clients, dispositions, pings, responses);
- account: an account's OWNER disposition (a disponent's spending is the owner's);
- card_user: a TabFormer user -> their cards' numbers (tokens) -> the mainframe card with the
  same number -> its disposition -> the client;
- visitor: the web analytics visitor map.
All joins are on tokens: the model never sees a clear identifier.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.errors import OfferlakeError

Read = Callable[[str], DataFrame]


class KeyMapError(OfferlakeError):
    """A source names a key map that does not exist."""


def _accounts(read: Read) -> DataFrame:
    owners = read("dispositions").where(F.col("type") == "OWNER")
    return owners.select(F.col("account_id").alias("key"), F.col("client_id").alias("customer"))


def _card_users(read: Read) -> DataFrame:
    cards = read("payment_cards").select("user", "card_number")
    mainframe = read("cards").select("card_number", "disp_id")
    disp = read("dispositions").select("disp_id", "client_id")
    linked = cards.join(mainframe, "card_number").join(disp, "disp_id")
    return linked.select(
        F.col("user").alias("key"), F.col("client_id").alias("customer")
    ).distinct()


def _visitors(read: Read) -> DataFrame:
    visitors = read("web_visitors").where(F.col("client_id").isNotNull())
    return visitors.select(
        F.col("full_visitor_id").alias("key"), F.col("client_id").alias("customer")
    ).distinct()


KEY_MAPS: dict[str, Callable[[Read], DataFrame]] = {
    "account": _accounts,
    "card_user": _card_users,
    "visitor": _visitors,
}


def keyed(df: DataFrame, column: str, via: str, read: Read) -> DataFrame:
    """df with a `customer` column (the client token) from its `column` through key map `via`.

    Rows whose token maps to no customer are left out (a card user the bank cannot tie to a
    client has no 360 row to add to).
    """
    if via == "client":
        return df.withColumn("customer", F.col(column))
    if via not in KEY_MAPS:
        raise KeyMapError(f"unknown key map {via!r}; one of client, {', '.join(KEY_MAPS)}")
    keys = KEY_MAPS[via](read)
    return df.join(F.broadcast(keys), df[column] == keys["key"]).drop("key")
