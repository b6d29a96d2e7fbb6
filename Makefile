# Developer entry points. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.11 when available, any python3 otherwise (the project needs >= 3.11).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install: reinstall only when pyproject.toml is newer.
STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=

.PHONY: help venv lint typecheck imports test unit integration run bench tools

help:
	@echo "make test   - create/update .venv, then ruff, mypy, import-linter, pytest"
	@echo "make run    - local broker (unless KAFKA_BOOTSTRAP_SERVERS is set), worker, demo feed, live scores"
	@echo "make unit   - every broker-free test (tests/unit and tests/contract)"
	@echo "make lint | typecheck | imports | integration | bench"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy  # strict on scoring/ and streams/ (config in pyproject.toml)

imports: venv
	$(BIN)/lint-imports

# promtool/prometheus for the deploy checks and Chromium for the browser tests (Debian
# packages, apt-get when missing).
tools:
	scripts/install-prometheus.sh
	scripts/install-chromium.sh

test: tools lint typecheck imports
	$(BIN)/pytest -q -p no:cacheprovider --timeout=600 $(PYTEST_ARGS)

unit: venv
	$(BIN)/pytest -q -p no:cacheprovider --timeout=600 tests/unit tests/contract $(PYTEST_ARGS)

integration: venv
	$(BIN)/pytest -q -p no:cacheprovider --timeout=600 -m integration $(PYTEST_ARGS)

# The demo (devtools/demo.py): broker unless configured, worker, demo feed, score table.
run: venv
	@exec $(BIN)/python -m devtools.demo

# The Quix Streams peer needs the bench extra (quixstreams); the bench works without it.
bench: venv
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/csscore bench
