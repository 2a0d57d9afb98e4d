# The README names two targets: `make demo` (the demo mesh, embedded default) and
# `make test` (services up, then the whole suite). Everything else is for developers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install ui browser node-deps deploy-tools demo demo-check test test-unit lint typecheck services-up services-down bench bench-kpi clean dev-up dev-down dev-reset image

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# The real Apollo gateway the `federation` tests run (Node.js 20+, versions from the lockfile).
FEDERATION := tests/federation
$(FEDERATION)/node_modules/.installed: $(FEDERATION)/package.json $(FEDERATION)/package-lock.json
	cd $(FEDERATION) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# graphql-http's GraphQL-over-HTTP audit of /graphql (tests/graphql_http).
GRAPHQL_HTTP := tests/graphql_http
$(GRAPHQL_HTTP)/node_modules/.installed: $(GRAPHQL_HTTP)/package.json $(GRAPHQL_HTTP)/package-lock.json
	cd $(GRAPHQL_HTTP) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# The pinned TypeScript compiler checking `dictamesh codegen typescript` (tests/codegen_ts).
CODEGEN_TS := tests/codegen_ts
$(CODEGEN_TS)/node_modules/.installed: $(CODEGEN_TS)/package.json $(CODEGEN_TS)/package-lock.json
	cd $(CODEGEN_TS) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

node-deps: $(FEDERATION)/node_modules/.installed $(GRAPHQL_HTTP)/node_modules/.installed $(CODEGEN_TS)/node_modules/.installed

# The browser UI's bundle (ui/ → src/dictamesh/api/static/ui/, committed: a wheel serves it
# without Node.js). Run after changing ui/; a unit test fails while the bundle is older.
.PHONY: ui
ui:
	cd ui && npm ci --ignore-scripts --no-audit --no-fund && node build.mjs

demo: install
	$(BIN)/dictamesh demo

demo-check: install
	$(BIN)/dictamesh demo --check

# helm and actionlint, pinned, for tests/deploy (scripts/deploy-tools.sh; cached in .cache/).
deploy-tools:
	bash scripts/deploy-tools.sh

# Headless Chromium and chromedriver for tests/browser (scripts/browser.sh: Debian packages).
browser:
	bash scripts/browser.sh >/dev/null

# The whole suite, every marker, against real PostgreSQL, Redis, Kafka, an Apollo gateway and
# a real browser.
test: install services-up node-deps deploy-tools browser
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest -m "not postgres and not redis and not kafka and not federation and not browser"

# lint-imports: the layer contracts of pyproject.toml [tool.importlinter] (docs/architecture.md).
lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

services-up:
	bash scripts/services.sh up

services-down:
	bash scripts/services.sh down

bench: install services-up
	$(BIN)/python benchmarks/ingest_embedded.py
	$(BIN)/python benchmarks/kafka_pg_ingest.py
	$(BIN)/python benchmarks/ingest_concurrent.py
	$(BIN)/python benchmarks/graph_query.py
	$(BIN)/python benchmarks/gateway_overhead.py
	$(BIN)/python benchmarks/graphql_cross_domain.py
	$(BIN)/python benchmarks/observability_overhead.py
	$(BIN)/python benchmarks/registry_check_isolation.py
	$(BIN)/python benchmarks/avro_compat_crosscheck.py
	$(BIN)/python benchmarks/saga_throughput.py
	$(BIN)/python benchmarks/saga_throughput.py --backend postgres
	$(BIN)/python benchmarks/saga_throughput.py --backend production
	$(BIN)/python benchmarks/http_throughput.py
	$(BIN)/python benchmarks/http_workers.py
	$(BIN)/python benchmarks/notifications_throughput.py
	$(BIN)/python benchmarks/notifications_throughput.py --backend postgres
	$(BIN)/python benchmarks/router_throughput.py
	$(BIN)/python benchmarks/scale_out.py

# every goal of docs/performance.md in one table (each script's output in .dictamesh/bench/)
bench-kpi: install services-up
	$(BIN)/python benchmarks/kpi.py

# The container image and the compose development stack (Docker needed; docs/deploy.md).
# `make image EXTRAS=postgres,kafka,redis,otel` builds a slimmer one.
IMAGE ?= ghcr.io/dictamesh/dictamesh
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
EXTRAS ?= all

image:
	docker build --build-arg EXTRAS=$(EXTRAS) --build-arg VERSION=$(VERSION) \
		--build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
		-t $(IMAGE):$(VERSION) .

dev-up:
	docker compose up -d --build

dev-down:
	docker compose down

dev-reset:
	docker compose down -v
	docker compose up -d --build

clean:
	rm -rf .dictamesh .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
