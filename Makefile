# Every target installs what it needs first, so `make demo` and `make test` work as the first
# command on a fresh clone (Python 3.11+, make, git, Node/npm).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# Node tools stay offline and quiet: no analytics, telemetry or update checks.
export SCARF_ANALYTICS := false
export REDOCLY_TELEMETRY := off
export REDOCLY_SUPPRESS_UPDATE_NOTICE := true
export NO_UPDATE_NOTIFIER := 1
export npm_config_update_notifier := false

.PHONY: help install generate check-generated lint typecheck pytest test demo bench bench-smoke clean

help:
	@echo "make demo             create an SDK token against the embedded mock server (offline)"
	@echo "make test             lint, type-check, drift check, every test, the demo and a bench smoke run"
	@echo "make generate         regenerate generated/ from openapi/tapti.yaml"
	@echo "make check-generated  fail with a diff when generated/ differs from the spec"
	@echo "make bench            the full benchmark (writes .bench/results.json)"

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

generate: install
	$(PY) scripts/generate.py

check-generated: install
	$(PY) scripts/generate.py --check

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/openapi-spec-validator openapi/tapti.yaml
	node_modules/.bin/redocly lint openapi/tapti.yaml --format=stylish

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

demo: install
	$(PY) scripts/demo.py

bench: install
	$(PY) scripts/bench.py

bench-smoke: install
	$(PY) scripts/bench.py --smoke

test: lint typecheck check-generated pytest demo bench-smoke

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis .bench
