# The README names two targets: `make demo` (the demo mesh, embedded default) and
# `make test` (services up, then the whole suite). Everything else is for developers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo demo-check test test-unit lint typecheck services-up services-down bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/dictamesh demo

demo-check: install
	$(BIN)/dictamesh demo --check

# The whole suite, every marker, against real PostgreSQL, Redis and Kafka.
test: install services-up
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest -m "not postgres and not redis and not kafka"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

services-up:
	bash scripts/services.sh up

services-down:
	bash scripts/services.sh down

bench: install
	$(BIN)/python benchmarks/ingest_embedded.py

clean:
	rm -rf .dictamesh .pytest_cache .mypy_cache .ruff_cache
