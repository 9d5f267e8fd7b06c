"""What the Airflow DAGs share: the assets that chain them, the task that runs a CLI entry point
in-process or through spark-submit, retries, timeouts and deadline alerts."""
