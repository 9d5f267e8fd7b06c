"""`OfferlakeOperator`: one `offerlake` CLI command as an Airflow task, so a DAG task and the
command line run the very same entry point.

The date a command runs for is not a template (`{{ ds }}` is undefined in an asset-triggered run
of Airflow 3): `run_args` puts `RUN_DATE` where the date goes, and each run replaces it with the
dates `run_dates` finds (triggering asset events, the `date` param, the logical date), running the
command once per date, oldest first. The task's outlet events then carry those dates on.

Where Spark runs is an operator's choice, not the DAG file's: the Airflow Variable
`offerlake_spark_mode` is `local` (default: the command runs in the worker's own process, Spark in
local mode, as in the demo) or `submit` (SparkSubmitOperator: `spark-submit jobs/cli.py ...` to the
cluster of the Airflow connection `offerlake_spark`, e.g. `spark://spark-master:7077`, with the
jars `make setup` fetched on the driver's and the executors' classpath: `submit_conf`; the
Variable `offerlake_spark_conf_dir` names the cluster's SPARK_CONF_DIR, which holds its secret).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.exceptions import AirflowException, AirflowFailException
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import BaseOperator, Variable

from jobs.orchestration.run_dates import NoRunDate, announce, run_dates
from jobs.runtime.spark import JARS_DIR, classpath_conf

MODE_VARIABLE = "offerlake_spark_mode"
# the cluster's SPARK_CONF_DIR (its shared secret: jobs/orchestration/cluster.py) for spark-submit
CONF_DIR_VARIABLE = "offerlake_spark_conf_dir"
MODES = ("local", "submit")
SPARK_CONN_ID = "offerlake_spark"
CLI = Path(__file__).resolve().parents[1] / "cli.py"
RUN_DATE = "<run date>"  # replaced by each of the run's dates at execution

# Every task: retried with growing waits, and stopped when it runs far past its usual time.
RETRIES = {"retries": 2, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True}


def submit_conf(jars_dir: Path = JARS_DIR) -> dict[str, str]:
    """spark-submit's conf: the jars on the driver's and the executors' classpath, each node's
    own copy (`jobs.runtime.spark.classpath_conf`), not shipped by `--jars`."""
    return classpath_conf(jars_dir)


class OfferlakeOperator(SparkSubmitOperator):
    """Runs `offerlake ARGS` once per date of its run (`RUN_DATE` in ARGS stands for it)."""

    ui_color = "#d9ecf2"

    def __init__(self, *, args: list[str], spark: bool = True, **kwargs) -> None:
        """`spark=False`: the command starts no Spark (catalog), so it runs in the worker's own
        process in either mode, never as a cluster application."""
        kwargs = {**RETRIES, **kwargs}
        kwargs.setdefault("execution_timeout", timedelta(hours=1))
        super().__init__(
            application=str(CLI),
            application_args=args,
            conn_id=SPARK_CONN_ID,
            conf=submit_conf(),
            name=f"offerlake-{kwargs['task_id']}",
            **kwargs,
        )
        self.uses_spark = spark

    def execute(self, context) -> list[str]:
        mode = Variable.get(MODE_VARIABLE, default="local")
        if mode not in MODES:
            raise AirflowFailException(  # a setting to fix, not worth retrying
                f"Airflow Variable {MODE_VARIABLE} is '{mode}': expected one of {MODES}"
            )
        try:
            dates = run_dates(context)
        except NoRunDate as error:
            raise AirflowFailException(f"{self.task_id}: {error}") from error
        template = [str(a) for a in self.application_args]
        for day in dates if RUN_DATE in template else dates[-1:]:
            self.log.info("offerlake %s: for %s (the run's dates: %s)", template[:2], day, dates)
            self._run(mode, [day if a == RUN_DATE else a for a in template], context)
        announce(context, self.outlets, dates)
        return dates  # XCom: what this task ran for

    def _run(self, mode: str, args: list[str], context) -> None:
        if mode == "submit" and self.uses_spark:
            self.application_args, self._hook = args, None  # a hook of these args
            conf_dir = Variable.get(CONF_DIR_VARIABLE, default=None)
            self.env_vars = {"SPARK_CONF_DIR": conf_dir} if conf_dir else None
            super().execute(context)
            return
        from jobs.cli import main

        code = main(args)
        if code:
            raise AirflowException(
                f"offerlake {' '.join(args)} exited {code} (its message is above)"
            )


class AnnounceOperator(BaseOperator):
    """Announces its outlets with the run's dates (e.g. ingest's `raw_landed`, once every feed
    has landed): no work of its own."""

    ui_color = "#e8f5e9"

    def execute(self, context) -> list[str]:
        try:
            dates = run_dates(context)
        except NoRunDate as error:
            raise AirflowFailException(f"{self.task_id}: {error}") from error
        announce(context, self.outlets, dates)
        return dates


def run_args(stage: str, *extra: str) -> list[str]:
    """`offerlake run STAGE --date <the run's date> EXTRA...`"""
    return ["run", stage, "--date", RUN_DATE, *extra]
