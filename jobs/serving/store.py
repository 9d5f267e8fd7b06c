"""The profile table in DynamoDB (boto3): made when missing (on-demand capacity, TTL on
`expires_at`), written with the batch writer, read one profile by token."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

import boto3

from jobs.serving.settings import DynamoDB

KEY = "customer_token"
EXPIRES = "expires_at"


def table(config: DynamoDB):
    """The boto3 Table resource (endpoint: the settings', else AWS or AWS_ENDPOINT_URL)."""
    resource = boto3.resource("dynamodb", region_name=config.region, endpoint_url=config.endpoint)
    return resource.Table(config.table)


def ensure(config: DynamoDB) -> None:
    """Create the table (key: customer_token) with TTL on expires_at when it does not exist."""
    client = boto3.client("dynamodb", region_name=config.region, endpoint_url=config.endpoint)
    try:
        client.describe_table(TableName=config.table)
        return
    except client.exceptions.ResourceNotFoundException:
        pass
    try:
        client.create_table(
            TableName=config.table,
            KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        pass  # made by a concurrent run
    client.get_waiter("table_exists").wait(TableName=config.table)
    client.update_time_to_live(
        TableName=config.table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES},
    )


def item(profile_json: str, token: str, expires_at: int) -> dict:
    """A DynamoDB item from a profile's JSON: numbers as Decimal, nulls left out."""
    values = json.loads(profile_json, parse_float=Decimal)
    return {KEY: token, EXPIRES: expires_at, **{k: v for k, v in values.items() if v is not None}}


def put(config: DynamoDB, items: Iterable[dict]) -> int:
    """Write items with the batch writer (it retries unprocessed ones); how many."""
    n = 0
    with table(config).batch_writer(overwrite_by_pkeys=[KEY]) as batch:
        for one in items:
            batch.put_item(Item=one)
            n += 1
    return n


def delete(config: DynamoDB, tokens: Iterable[str]) -> int:
    n = 0
    with table(config).batch_writer(overwrite_by_pkeys=[KEY]) as batch:
        for token in tokens:
            batch.delete_item(Key={KEY: token})
            n += 1
    return n


def get(config: DynamoDB, token: str) -> dict | None:
    """One profile (consistent read), or None."""
    found = table(config).get_item(Key={KEY: token}, ConsistentRead=True).get("Item")
    return found or None
