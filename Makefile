# Conveyor: `make demo` brings the platform up with demo data; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.synced
NODE_STAMP := node_modules/.installed
export UV_PYTHON := 3.11
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy

.PHONY: help install demo test test-python test-api lint bench-ingest bench-faults clean

help:
	@echo "make demo   - install, start the whole platform with demo data (foreground; Ctrl-C stops it)"
	@echo "make test   - install, start the stores if stopped, run pytest and the Postman collection"
	@echo "make lint   - ruff and mypy"

# uv comes from PyPI when it is missing; the virtualenv is rebuilt when the lock changes.
$(STAMP): uv.lock pyproject.toml
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install -q --disable-pip-version-check uv
	python3 -m uv sync --frozen
	@touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

demo: install
	@scripts/ensure_services.sh
	$(PY) -m conveyor_tools.cli.main demo

test: install
	@scripts/install_system_tools.sh
	@scripts/ensure_services.sh
	@$(MAKE) --no-print-directory test-python
	@$(MAKE) --no-print-directory test-api

# pytest exits 5 when it collected nothing: that is a failure here, as is any other non-zero.
# PYTEST_WORKERS=N runs the files in N processes (pytest-xdist, each file whole in one process); the default
# is one process: on two cores two were not faster, and retraining runs timed out beside the other half.
PYTEST_WORKERS ?=
PYTEST_PARALLEL := $(if $(PYTEST_WORKERS),-n $(PYTEST_WORKERS) --dist loadfile,)
test-python:
	@set +e; $(PY) -m pytest $(PYTEST_PARALLEL); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The Postman collection against a live stack started for the run (free ports, throwaway stores);
# then its JUnit report must show every request of the collection run and passed.
test-api:
	@rm -f artifacts/newman.xml
	$(PY) -m conveyor_tools.cli.main stack --exec scripts/run_newman.sh
	$(PY) scripts/check_newman_report.py postman_collection.json artifacts/newman.xml

lint:
	$(PY) -m ruff check .
	$(PY) -m mypy

bench-ingest: install
	@scripts/ensure_services.sh
	$(PY) -m conveyor_tools.cli.main bench ingest --rows 100000

# Faults through the pipeline, counted afterwards; exits 1 when a check fails. It stops and restarts a RabbitMQ
# node and a PostgreSQL cluster of its own (temporary, on free ports), never the machine's, so it needs only the
# secantusdb of the virtualenv and the RabbitMQ and PostgreSQL 15 programs installed (run as root or postgres).
bench-faults: install
	$(PY) -m conveyor_tools.cli.main bench faults --records 20000

clean:
	rm -rf $(VENV) node_modules .pytest_cache
