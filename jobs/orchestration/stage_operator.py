"""`OfferlakeOperator`: one `offerlake` CLI command as an Airflow task, so a DAG task and the
command line run the very same entry point.

Where Spark runs is an operator's choice, not the DAG file's: the Airflow Variable
`offerlake_spark_mode` is `local` (default: the command runs in the worker's own process, Spark in
local mode, as in the demo) or `submit` (SparkSubmitOperator: `spark-submit jobs/cli.py ...` to the
cluster of the Airflow connection `offerlake_spark`, e.g. `spark://spark-master:7077`, with the
jars `make setup` fetched).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.exceptions import AirflowException, AirflowFailException
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Variable

from jobs.runtime.spark import JARS_DIR

MODE_VARIABLE = "offerlake_spark_mode"
MODES = ("local", "submit")
SPARK_CONN_ID = "offerlake_spark"
CLI = Path(__file__).resolve().parents[1] / "cli.py"

# Every task: retried with growing waits, and stopped when it runs far past its usual time.
RETRIES = {"retries": 2, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True}


class OfferlakeOperator(SparkSubmitOperator):
    """Runs `offerlake ARGS` (templated: `{{ ds }}` is the run's date)."""

    ui_color = "#d9ecf2"

    def __init__(self, *, args: list[str], **kwargs) -> None:
        kwargs = {**RETRIES, **kwargs}
        kwargs.setdefault("execution_timeout", timedelta(hours=1))
        super().__init__(
            application=str(CLI),
            application_args=args,
            conn_id=SPARK_CONN_ID,
            jars=f"{JARS_DIR}/*.jar",
            name=f"offerlake-{kwargs['task_id']}",
            **kwargs,
        )

    def execute(self, context) -> None:
        mode = Variable.get(MODE_VARIABLE, default="local")
        if mode not in MODES:
            raise AirflowFailException(  # a setting to fix, not worth retrying
                f"Airflow Variable {MODE_VARIABLE} is '{mode}': expected one of {MODES}"
            )
        if mode == "submit":
            super().execute(context)
            return
        from jobs.cli import main

        code = main([str(a) for a in self.application_args])
        if code:
            command = " ".join(str(a) for a in self.application_args)
            raise AirflowException(f"offerlake {command} exited {code} (its message is above)")


def run_args(stage: str, *extra: str) -> list[str]:
    """`offerlake run STAGE --date {{ ds }} EXTRA...`"""
    return ["run", stage, "--date", "{{ ds }}", *extra]
