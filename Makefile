# offerlake: the two commands a new user runs are `make demo` and `make test`.
# Both call `make setup` first; it only does work when something is missing or changed.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
JAVA_HOME ?= $(shell dirname $$(dirname $$(readlink -f $$(command -v java))))
export JAVA_HOME
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
DEMO_LAKE ?= lakehouse
DEMO_CUSTOMERS ?= 2000
DEMO_DAYS ?= 90

.PHONY: setup demo test kill soak airflow trino cluster cluster-stop bench lint lock clean

setup: $(VENV)/.installed .jars/.complete .trino/.complete

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on our machines)
# Python would otherwise compile every imported module from source in every process (Great
# Expectations imports in 7.4 s so, in 3.2 s from bytecode).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv==0.13.9
	VIRTUAL_ENV=$(VENV) $(BIN)/uv pip sync -q --compile-bytecode requirements.lock
	VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install -q --no-deps -e .
	touch $@

# The jars from Maven Central, and offerlake's own Delta log store for S3 (jars/logstore/).
LOGSTORE_SOURCES := $(shell find jars/logstore/src -name '*.java')
.jars/.complete: jars/pom.xml jars/logstore/pom.xml $(LOGSTORE_SOURCES)
	mvn -q -B -f jars/pom.xml dependency:copy-dependencies
	mvn -q -B -f jars/logstore/pom.xml package -Dmaven.test.skip=true
	cp .build/logstore/offerlake-delta-logstore-*.jar .jars/
	touch $@

# Trino for analysts on this machine (make trino) and its test: from Maven Central, then unpacked
# with tar (the archive's hard links come out of Maven's own unpack as empty files).
.trino/.complete: jars/trino.xml
	rm -rf .trino/server && mkdir -p .trino/server
	mvn -q -B -f jars/trino.xml dependency:copy
	tar -xzf .trino/trino-server-*.tar.gz -C .trino/server
	rm -f .trino/trino-server-*.tar.gz
	touch $@

# Re-resolve the pinned Python environment after changing pyproject.toml.
lock:
	$(BIN)/uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

demo: setup
	$(BIN)/offerlake --lake $(DEMO_LAKE) demo --customers $(DEMO_CUSTOMERS) --days $(DEMO_DAYS)

# Two pytest workers (pytest-xdist): tests sharing a costly fixture run on one worker together
# (tests/conftest.py), so the scheduler's chain and the bank's stages run side by side.
TEST_WORKERS ?= 2
test: setup
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup

# kill -9 trials (README, "Killed anywhere"): `make test` kills each stage once at a seeded
# point, `make kill` twice in a row (the re-run killed too), `make soak` at every kill point of
# every stage, one by one; the trials go to bench/results/
kill: setup
	mkdir -p bench/results
	OFFERLAKE_KILLS=2 OFFERLAKE_KILL_REPORT=bench/results/kill.json $(BIN)/pytest -q -s \
		tests/integration/test_kill_anywhere.py

soak: setup
	mkdir -p bench/results
	OFFERLAKE_SOAK=1 OFFERLAKE_KILL_REPORT=bench/results/soak.json $(BIN)/pytest -q -s \
		tests/integration/test_kill_anywhere.py

# Airflow standalone with offerlake's DAGs on http://localhost:8080 (prints the login).
AIRFLOW_PORT ?= 8080
airflow: setup
	$(BIN)/python -m jobs.orchestration.standalone --port $(AIRFLOW_PORT) --lake $(DEMO_LAKE)

# A Spark standalone cluster on 127.0.0.1 (master spark://127.0.0.1:7077, UI :8081, two workers of
# 1 core and 2 GB) for Airflow's submit mode; cluster-stop ends it.
cluster: setup
	$(BIN)/python -m jobs.orchestration.cluster start

cluster-stop:
	$(BIN)/python -m jobs.orchestration.cluster stop

# Trino on http://127.0.0.1:8090 over the demo lake, its tables registered from the catalog's DDL.
TRINO_PORT ?= 8090
trino: setup
	$(BIN)/python -m jobs.catalog.trino_server --port $(TRINO_PORT) --lake $(DEMO_LAKE)

bench: setup
	$(BIN)/python -m bench.generate
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.privacy
	$(BIN)/python -m bench.model
	$(BIN)/python -m bench.pipeline

lint: setup
	$(BIN)/ruff check jobs dsl dags tests bench
	$(BIN)/ruff format --check jobs dsl dags tests bench

clean:
	rm -rf $(VENV) .jars .build .trino .cluster .airflow lakehouse spark-warehouse .pytest_cache
