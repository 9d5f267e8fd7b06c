-- One PostgreSQL for the stack's own state: Airflow's metadata and the Hive metastore.
-- (The token vault, on-prem, may use a database of its own: conf/privacy.yaml vault.store.)
CREATE DATABASE airflow;
CREATE DATABASE metastore;
