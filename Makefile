# Asset Service — `make run` serves it, `make test` checks it. GNU make.
#
# Everything the project needs is installed into $(VENV) from pyproject.toml; nothing outside the
# repository is used except $(PYTHON) (3.11+, with its venv module).

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
BENCH_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help

.PHONY: help venv install run test lint format bench clean distclean

help: ## list the targets
	@echo "Asset Service — make targets:"
	@grep -E '^[a-z][a-z -]*:.*## ' $(firstword $(MAKEFILE_LIST)) \
		| sed -E 's/^([a-z -]+):.*## (.*)/\1|\2/' | awk -F'|' '{ printf "  %-16s %s\n", $$1, $$2 }'
	@echo
	@echo "Variables: PYTHON=$(PYTHON) VENV=$(VENV) PYTEST_ARGS='$(PYTEST_ARGS)' BENCH_ARGS='$(BENCH_ARGS)'"
	@echo "The server reads every ASSET_* variable from the environment (see README.md)."

# The virtualenv itself: created once. If creating it fails half-way, remove it so that the
# next run starts over instead of trusting a venv without pip.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip || { rm -rf $(VENV); exit 1; }

# The project and its test tools: re-installed only when pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(STAMP) ## create .venv and install the project with its test tools

install: $(STAMP) ## same as venv

run: $(STAMP) ## serve on 127.0.0.1:8000 with the data under ./data; prints a dev token
	exec $(BIN)/asset-service serve --dev

test: $(STAMP) ## ruff check, ruff format --check, then pytest (options: PYTEST_ARGS=...)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
# --- servers the tests need -------------------------------------------------------------
# Later issues start them here, before pytest (e.g. moto_server on a free 127.0.0.1 port,
# exported as ASSET_TEST_S3_URL), and stop them afterwards whatever pytest's outcome.
# ------------------------------------------------------------------------------------------
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check and ruff format --check, without the tests
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## upload/download a 2 GiB file, report server RSS (BENCH_ARGS=--quick: 256 MiB)
	$(BIN)/python bench/upload_memory.py $(BENCH_ARGS)

clean: ## remove caches and build artefacts (keeps .venv and ./data)
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info

distclean: clean ## also remove .venv and ./data (the stored assets and the dev JWT secret)
	rm -rf $(VENV) data
