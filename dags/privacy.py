"""Airflow DAG `privacy`: the privacy gate (raw -> stage, tokens only), then the leak scan.

Runs when the ingest DAG announces `offerlake_raw`; the leak scan announces `offerlake_stage`
(a leak-free stage) for the customer model. Same entry points as `offerlake run privacy` and
`offerlake leakscan`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from jobs.orchestration.assets import RAW, STAGE
from jobs.orchestration.defaults import dag_args
from jobs.orchestration.stage_operator import OfferlakeOperator, run_args

with DAG(
    dag_id="privacy",
    schedule=[RAW],
    **dag_args("onprem", timeout=timedelta(hours=4), deadline_after=timedelta(hours=3)),
    doc_md="""
    ### Privacy gate
    The only door from on-prem to the lake. Turns every `onprem/raw` table into its
    `lake/stage` twin as `conf/privacy.yaml` says (keep, drop, generalize, mask, tokenize,
    encrypt); a raw column without an action stops the gate before it writes. Tokens and
    encrypted contacts go to the vault (`onprem/vault`, or PostgreSQL). Then the leak scan
    reads every lake table and fails the run on any personal data it finds.
    """,
) as privacy:
    gate = OfferlakeOperator(
        task_id="privacy_gate",
        args=run_args("privacy"),
        execution_timeout=timedelta(hours=2),
        doc_md="Write every stage table from its raw twin; mint tokens, encrypt contacts.",
    )
    scan = OfferlakeOperator(
        task_id="leakscan",
        args=["leakscan"],
        outlets=[STAGE],  # stage is usable once leak-free
        doc_md="Fail when any lake table holds a raw PII value or a detected e-mail, phone, "
        "card number or IBAN.",
    )
    gate >> scan
