"""Airflow DAG `privacy`: the privacy gate (raw -> stage, tokens only), then the leak scan.

Both tasks run the same entry points as `offerlake run privacy` and `offerlake leakscan`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

STAGE = Asset("offerlake_stage")  # what customer_model waits for


@task(retries=1, retry_delay=timedelta(minutes=5), execution_timeout=timedelta(hours=2))
def privacy_gate(ds: str | None = None) -> dict[str, int]:
    """Write every stage table from its raw twin; mint tokens and encrypt contacts in the vault."""
    from jobs.pipeline import run_dag_task

    return run_dag_task("privacy", ds)


@task(execution_timeout=timedelta(hours=1), outlets=[STAGE])  # stage is usable once leak-free
def leakscan() -> int:
    """Fail when any lake table holds a raw PII value or a detected e-mail, phone, card, IBAN."""
    from jobs.privacy.commands import leakscan as scan
    from jobs.privacy.commands import raise_on_hits
    from jobs.runtime.config import LakeConfig

    _, hits = scan(LakeConfig.load())
    raise_on_hits(hits)
    return 0


@dag(
    dag_id="privacy",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["offerlake", "onprem"],
)
def privacy():
    """
    ### Privacy gate
    The only door from on-prem to the lake. Turns every `onprem/raw` table into its
    `lake/stage` twin as `conf/privacy.yaml` says (keep, drop, generalize, mask, tokenize,
    encrypt); a raw column without an action stops the gate before it writes. Tokens and
    encrypted contacts go to the vault (`onprem/vault`, or PostgreSQL). Then the leak scan
    reads every lake table and fails the run on any personal data it finds.
    """
    privacy_gate() >> leakscan()


privacy()
