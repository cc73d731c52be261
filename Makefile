# stat311: the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stat311-installed

.PHONY: run test lint format bench install system-deps clean

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed; installing python3-venv"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; fi; \
	  rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## run: the dashboard on the default SQLite store, with the bundled Boston sample loaded when empty
run: install
	$(BIN)/stat311 serve --demo

system-deps:
	bash .ci/install-system-deps.sh

## test: install everything the tests need (venv; Chromium, PostgreSQL+PostGIS and Redis via apt as root), run them all
test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

## bench: generate realistic data and print each figure beside a naive baseline (docs/BENCHMARKS.md)
CASES ?= 1000000
bench: install
	$(BIN)/stat311 bench --cases $(CASES) --json var/bench.json

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var .pytest_cache .ruff_cache
