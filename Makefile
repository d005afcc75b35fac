# wadah: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= uv
RUN := $(UV) run --frozen

.PHONY: help install run serve worker migrate revision test test-fast coverage lint fmt

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: ## install everything (uv from PyPI if missing, then the locked dependencies)
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) sync --frozen

run: install ## API + worker on this machine, no Docker (embedded SQLite and Redis unless DATABASE_URL/REDIS_URL)
	@# The environment's python, not `uv run`: uv exits 130 after a Ctrl-C even when the
	@# script it ran stopped everything and exited 0, and make would then report an error.
	$${UV_PROJECT_ENVIRONMENT:-.venv}/bin/python scripts/run_local.py

serve: ## the API alone (honours PORT, DATABASE_URL, WEB_CONCURRENCY); used by the benchmarks
	$(RUN) python -m api

worker: ## the worker alone
	$(RUN) python -m worker

migrate: ## upgrade the database (DATABASE_URL, DB_*, or the embedded SQLite) to head; adopts the original's schema
	$(RUN) python -m shared.migrate

revision: install ## draft a migration from the models: make revision m="what it does" [id=0011]
	$(RUN) python scripts/revision.py "$(m)" $(if $(id),--id $(id))

test: install console-deps ## the whole suite (TEST_DATABASE_URL / TEST_REDIS_URL: real servers; else embedded)
	$(RUN) pytest

test-fast: install ## the tests that start no process of their own (about a minute)
	$(RUN) pytest -m "not process" -q

coverage: install ## the whole suite under coverage.py, its processes included; line coverage of shared, api, worker
	rm -f .coverage .coverage.*
	$(RUN) coverage run -m pytest -q
	$(RUN) coverage combine -q
	$(RUN) coverage report

lint: install ## ruff, mypy, and actionlint on .github/workflows
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) actionlint

fmt: ## format and auto-fix
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

.PHONY: openapi
OPENAPI_DIR := tools/openapi
openapi: install ## check the OpenAPI document: Redocly's recommended rules (0 errors) and a strict TypeScript client of it
	$(RUN) python scripts/openapi_document.py $(OPENAPI_DIR)/generated/openapi.json
	cd $(OPENAPI_DIR) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	cd $(OPENAPI_DIR) && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
		npx --no-install redocly lint --config redocly.yaml generated/openapi.json
	cd $(OPENAPI_DIR) && node generate.mjs generated/openapi.json generated/wadah.ts && npx --no-install tsc -p tsconfig.json

.PHONY: k8s
k8s: install ## render deploy/k8s's overlays and validate them offline (kubectl, kubernetes-validate, KEDA's CRDs in ../shared/k8s/crds), then the manifest rules
	@command -v kubectl >/dev/null || { echo "make k8s needs kubectl (it renders the kustomizations)" >&2; exit 1; }
	$(RUN) python scripts/k8s_check.py
	$(RUN) pytest tests/deploy -q

.PHONY: fuzz faults
fuzz: install ## schemathesis against a running API, longer than the suite's run (FUZZ_MAX_EXAMPLES=200, FUZZ_SEED)
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-200} $(RUN) pytest tests/api/test_fuzz.py -q

faults: install ## only the fault tests: MariaDB, Redis and SIGTERM against real processes (make test runs them too)
	$(RUN) pytest tests/faults tests/api/test_served.py -q

.PHONY: bench side-by-side observability-cost
bench: install ## load-test the hot endpoints, the job drain, the book import and the export; figures in bench-results/
	@mkdir -p bench-results
	$(RUN) python scripts/bench_api.py
	$(RUN) python scripts/bench_jobs.py --n 2000 --rounds 3 | tee bench-results/jobs.txt
	$(RUN) python scripts/bench_import.py --rows 200000 | tee bench-results/import.txt
	$(RUN) python scripts/bench_export.py --rows 200000 | tee bench-results/export.txt

.PHONY: bench-import bench-export
bench-import: install ## book import speed: 1,000,000 rows (ROWS) read from the database into MariaDB
	$(RUN) python scripts/bench_import.py --rows $(or $(ROWS),1000000)

bench-export: install ## export speed: 1,000,000 books (ROWS) from MariaDB into a CSV stored in the database
	$(RUN) python scripts/bench_export.py --rows $(or $(ROWS),1000000)

.PHONY: bench-memory
bench-memory: install ## resident memory: the API under wrk, a worker draining 100,000 jobs (JOBS); limit 150 MB
	$(RUN) python scripts/bench_memory.py --jobs $(or $(JOBS),100000)

side-by-side: install ## wadah beside the FastAPI peer and the bare-ASGI ceiling (../shared/bench), round by round
	python3 scripts/side_by_side.py --rounds $(or $(ROUNDS),3)

# The same build three ways, in turn within each round (docs/performance.md "Observability's cost").
# Short rounds, many of them: a noisy spell of the machine then falls on all three builds,
# not on the one whose 8 s it happened to be.
OBS_TRACING := OTEL_TRACES_EXPORTER=console OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01
observability-cost: install ## make side-by-side for wadah with metrics on (default), metrics off, and tracing at 1%
	python3 scripts/side_by_side.py --rounds $(or $(ROUNDS),15) --seconds $(or $(ROUND_SECONDS),3) \
	  --scenarios get_user,create_book \
	  "metrics_on=18110:bench_wadah_obs_on:make migrate:make serve" \
	  "metrics_off=18111:bench_wadah_obs_off:make migrate:METRICS_ENABLED=false make serve" \
	  "tracing_1pct=18112:bench_wadah_obs_otel:make migrate:$(OBS_TRACING) make serve" \
	  --dir=metrics_on=$(CURDIR) --dir=metrics_off=$(CURDIR) --dir=tracing_1pct=$(CURDIR)

# --- Containers: compose.yml (API, worker, Redis, migrate) + compose.mysql.yml (docs/deployment.md)
COMPOSE ?= docker compose
REGISTRY ?= docker.io
IMAGE_PREFIX ?=
export COMPOSE

.PHONY: build up down logs ps push smoke

build: ## build images wadah-api and wadah-worker; prints their sizes and what each adds to its base
	scripts/stack.sh build

up: ## the whole stack in Docker (MySQL too if mysql_default is missing); waits for /readyz, prints the URL
	scripts/stack.sh up

down: ## stop and remove the stack's containers (volumes kept; MySQL is its own compose project)
	$(COMPOSE) down

logs: ## follow the stack's logs
	$(COMPOSE) logs --follow --tail=100

ps: ## the stack's containers and their health
	$(COMPOSE) ps --all

push: ## push both images as REGISTRY/IMAGE_PREFIX/wadah-{api,worker}:<git describe> (docker login first)
	REGISTRY=$(REGISTRY) IMAGE_PREFIX=$(IMAGE_PREFIX) scripts/stack.sh push

smoke: ## build and run both images with MySQL + Redis in throwaway compose projects, exercise them, remove all
	python3 scripts/smoke.py

# --- Operators and the console (docs/console.md)
.PHONY: grant revoke console-deps browser-tests screenshots

grant: ## make a user an operator (every user's jobs, queue health): make grant EMAIL=ops@example.com
	@test -n "$(EMAIL)" || { echo "usage: make grant EMAIL=address" >&2; exit 2; }
	$(RUN) python -m shared.admin grant "$(EMAIL)"

revoke: ## take the operator role away: make revoke EMAIL=ops@example.com
	@test -n "$(EMAIL)" || { echo "usage: make revoke EMAIL=address" >&2; exit 2; }
	$(RUN) python -m shared.admin revoke "$(EMAIL)"

console-deps: ## the browser tests' pinned axe-core (npm ci in tests/console); the browser is Debian's chromium
	npm ci --prefix tests/console --ignore-scripts --no-audit --no-fund

browser-tests: install console-deps ## only the console's browser tests (Chromium at CHROMIUM, default /usr/bin/chromium)
	$(RUN) pytest tests/console -q

screenshots: install console-deps ## PNGs of the console's main views into SCREENSHOTS (default ./screenshots, git-ignored)
	CONSOLE_SCREENSHOTS="$(abspath $(or $(SCREENSHOTS),screenshots))" $(RUN) pytest tests/console -q -k "sign_in_and_out or import or operator"
