# One entry point for everything: `make` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The first interpreter that really runs and is >= 3.11 (pyenv shims exist for versions that
# are not selected, so `command -v` alone is not enough).
PYTHON ?= $(shell for candidate in python3 python3.11 python3.12 python3.13; do \
	$$candidate -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
	&& { command -v $$candidate; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
COMPOSE ?= docker compose
PYTEST_ARGS ?=
STACK_PYTEST_ARGS ?= -ra

.PHONY: help install lock contracts test test-unit test-integration test-stack lint format bench \
        up preflight verify down logs ps backfill portfolio portfolio-check ksql-apply \
        metabase-provision metabase-export clickhouse-client clean clean-venv local top \
        settings-doc

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Installs come from the hash-locked files in requirements/ (pyproject.toml keeps the open
# ranges for library users): the same versions on every machine, CI and the app image.
LOCK_DIR := requirements
LOCK_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' $(LOCK_ARGS)

$(INSTALLED): pyproject.toml $(LOCK_DIR)/build.lock $(LOCK_DIR)/dev.lock
	@test -n "$(PYTHON)" || { echo "Python >= 3.11 is required: install it or set PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK_DIR)/build.lock -r $(LOCK_DIR)/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

install: $(INSTALLED) ## Create .venv with the package and the test/lint tools (from requirements/dev.lock)

lock: $(INSTALLED) ## Refresh requirements/*.lock after a pyproject.toml change (LOCK_ARGS=--upgrade for newest versions)
	$(LOCK_COMPILE) pyproject.toml --extra dev -o $(LOCK_DIR)/dev.lock
	$(LOCK_COMPILE) pyproject.toml --constraint $(LOCK_DIR)/dev.lock -o $(LOCK_DIR)/runtime.lock
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(LOCK_COMPILE) - -o $(LOCK_DIR)/build.lock

contracts: $(INSTALLED) ## Regenerate contracts/*.schema.json from the pydantic wire models (commit them)
	$(BIN)/python -m provisioning.contracts

test: $(INSTALLED) ## Run the whole suite (real Kafka broker + ClickHouse engine; containers and the stack tests if Docker answers)
	@stack=0; $(BIN)/python -m tests.support.backends || stack=$$?; \
	if [ $$stack -gt 1 ]; then exit $$stack; fi; \
	$(BIN)/python -m pytest --ignore=tests/stack $(PYTEST_ARGS); \
	if [ $$stack -eq 0 ]; then $(BIN)/python -m pytest tests/stack $(STACK_PYTEST_ARGS); fi

test-unit: $(INSTALLED) ## Run only the unit tests (no broker, no database)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: $(INSTALLED) ## Run only the integration tests
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-stack: $(INSTALLED) ## Run the whole-stack tests, their own session with a cold-start timeout (needs Docker)
	$(BIN)/python -m pytest tests/stack $(STACK_PYTEST_ARGS)

lint: $(INSTALLED) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED) ## Reformat and autofix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

settings-doc: $(INSTALLED) ## Regenerate docs/settings.md and the README's settings table from the settings models
	$(BIN)/python -m provisioning.settings_doc

bench: $(INSTALLED) ## Run every benchmark (figures go to docs/benchmarks.md by hand)
	@for bench in benchmarks/bench_*.py; do \
		echo "=== $$bench"; \
		$(BIN)/python "$$bench"; \
	done

preflight: ## Check Docker, the Compose plugin, the daemon, Docker's memory and the host ports
	@if command -v python3 >/dev/null 2>&1; then python3 -m provisioning.preflight; \
	else echo "preflight skipped: python3 not found (the checks need it; Docker does not)"; fi

up: preflight ## Build and start the stack, wait until healthy, print the URLs
	$(COMPOSE) up -d --build --wait
	@echo
	@echo "  Metabase    http://localhost:3000"
	@echo "  ClickHouse  http://localhost:8123/play"
	@echo "  ksqlDB      http://localhost:8088/info"
	@echo "  Kafka       localhost:9094"
	@echo "  (default ports; with a .env that moves them, see the table below)"
	@$(COMPOSE) ps --format 'table {{.Service}}\t{{.Status}}\t{{.Ports}}'

verify: $(INSTALLED) ## Prove the running stack hop by hop: Kafka, ksqlDB, ClickHouse, Metabase
	@set -a; if [ -f .env ]; then . ./.env; fi; set +a; \
	COINS_KAFKA_BOOTSTRAP_SERVERS="$${COINS_KAFKA_BOOTSTRAP_SERVERS:-localhost:$${KAFKA_HOST_PORT:-9094}}" \
	KSQLDB_URL="$${KSQLDB_URL:-http://localhost:$${KSQLDB_HOST_PORT:-8088}}" \
	METABASE_URL="$${METABASE_URL:-http://localhost:$${METABASE_HOST_PORT:-3000}}" \
	COINS_CLICKHOUSE_URL="$${COINS_CLICKHOUSE_URL:-http://admin:$${CLICKHOUSE_ADMIN_PASSWORD:-admin-local-only}@localhost:$${CLICKHOUSE_HTTP_HOST_PORT:-8123}}" \
	$(BIN)/coins-verify $(VERIFY_ARGS)

down: ## Stop the stack (keeps the data volumes)
	$(COMPOSE) down

logs: ## Follow the logs of every service
	$(COMPOSE) logs -f --tail=100

ps: ## Show the services and their health
	$(COMPOSE) ps

backfill: ## Run the history backfill once now (resumes where it stopped)
	$(COMPOSE) run --rm backfill coins backfill

portfolio: ## Publish portfolio/transactions.yaml to the running stack (checks it; sends only changes)
	$(COMPOSE) run --rm portfolio

portfolio-check: $(INSTALLED) ## Validate portfolio/transactions.yaml without publishing (no Docker)
	$(BIN)/coins-portfolio check portfolio/transactions.yaml

ksql-apply: ## Re-apply ksqldb/*.sql (idempotent); REPLACE=NAME re-creates an edited object
	$(COMPOSE) run --rm ksqldb-init coins-ksql-apply $(if $(REPLACE),--replace $(REPLACE))

metabase-provision: ## Re-apply metabase/ (questions, dashboards) to the running stack
	$(COMPOSE) restart metabase-provision

metabase-export: $(INSTALLED) ## Write a dashboard edited in Metabase back to metabase/ (DASHBOARD="Market now")
	@test -n "$(DASHBOARD)" || { echo 'usage: make metabase-export DASHBOARD="Market now"' >&2; exit 1; }
	$(BIN)/coins-metabase export "$(DASHBOARD)"

local: $(INSTALLED) ## No Docker: Kafka broker + embedded ClickHouse + producers + `coins top`, data in .local/ (Ctrl-C stops)
	$(BIN)/coins local

top: $(INSTALLED) ## `coins top` against the stack's ClickHouse (COINS_CLICKHOUSE_URL to change the server)
	$(BIN)/coins top --clickhouse "$${COINS_CLICKHOUSE_URL:-http://admin:$${CLICKHOUSE_ADMIN_PASSWORD:-admin-local-only}@localhost:$${CLICKHOUSE_HTTP_HOST_PORT:-8123}}"

clickhouse-client: ## Open clickhouse-client in the ClickHouse container as the administrator
	$(COMPOSE) exec clickhouse sh -c 'clickhouse-client --user "$$CLICKHOUSE_USER" --password "$$CLICKHOUSE_PASSWORD"'

clean: ## Stop the stack and DELETE its volumes (asks first)
	@read -r -p "This deletes every volume of the stack (Kafka, ClickHouse, Metabase data). Continue? [y/N] " answer; \
	if [[ "$$answer" == [yY] ]]; then $(COMPOSE) down --volumes --remove-orphans; else echo "Nothing deleted."; fi

clean-venv: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .test-artifacts
