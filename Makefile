# Every target installs what it needs first, so `make demo` and `make test` work as the first
# command on a fresh clone. Two installs, each behind a stamp file: the Python one (.venv, from
# pyproject.toml pinned by constraints.txt) and the Node one (node_modules, from package-lock.json).
# `make demo` and the other Python-only targets need Python 3.11+ and make, not Node; lint, pytest,
# check-breaking and test also need Node/npm (Redocly, Prism and Optic).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# Node tools stay offline and quiet: no analytics, telemetry or update checks.
export SCARF_ANALYTICS := false
export REDOCLY_TELEMETRY := off
export REDOCLY_SUPPRESS_UPDATE_NOTICE := true
export NO_UPDATE_NOTIFIER := 1
export npm_config_update_notifier := false

.PHONY: help install constraints generate check-generated check-breaking release-spec lint typecheck pytest docs test demo bench bench-smoke dist matrix lowest clean

help:
	@echo "make demo             create an SDK token against the embedded mock server (offline)"
	@echo "make test             lint, type-check, drift check, every test, the demo and a bench smoke run"
	@echo "make generate         regenerate generated/ from openapi/tapti.yaml"
	@echo "make check-generated  fail with a diff when generated/ differs from the spec"
	@echo "make check-breaking   fail on a breaking spec change the version and CHANGELOG.md do not announce"
	@echo "make release-spec     record openapi/tapti.yaml as the spec of the current version (at a release)"
	@echo "make docs             build the documentation site into site/ (mkdocs --strict, offline)"
	@echo "make bench            the full benchmark, in a clean venv holding the built wheel"
	@echo "make dist             build the sdist and wheel into dist/ and check them (twine, sdist = wheel)"
	@echo "make matrix           the test suite against the built wheel on Python 3.11, 3.12 and 3.13"
	@echo "make lowest           core tests against the wheel with its lowest allowed dependencies"
	@echo "make install          both installs: .venv (pinned by constraints.txt) and node_modules"
	@echo "make constraints      re-resolve the dev extra in a throwaway venv and rewrite constraints.txt"

install: $(PY_STAMP) $(NODE_STAMP)

# The dev environment is pinned by constraints.txt; the published package keeps its lower bounds.
$(PY_STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Rewrites constraints.txt (keeping its leading comment block) from a throwaway venv in which
# '.[dev]' is resolved anew without the old pins: the newest versions pyproject.toml allows.
# .venv is left alone until the next target reinstalls it from the new file. Needs the network.
constraints:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]' && \
	{ awk '/^#/ { print; next } { exit }' constraints.txt && \
	  "$$tmp/venv/bin/python" -m pip freeze --exclude-editable | grep -v -i '^tapti[=@ ]'; \
	} > "$$tmp/constraints.txt" && \
	mv "$$tmp/constraints.txt" constraints.txt && \
	echo "constraints.txt rewritten: review the diff, run make test, commit it"

generate: $(PY_STAMP)
	$(PY) scripts/generate.py

check-generated: $(PY_STAMP)
	$(PY) scripts/generate.py --check

# Optic (package.json) diffs openapi/tapti.yaml against openapi/released/, the last release's spec;
# a breaking change passes only with a bumped __version__ (tapti_ext/__init__.py) and its
# CHANGELOG.md entry.
check-breaking: $(PY_STAMP) $(NODE_STAMP)
	$(PY) scripts/check_breaking.py

release-spec: $(PY_STAMP)
	$(PY) scripts/check_breaking.py --release

lint: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/openapi-spec-validator openapi/tapti.yaml
	node_modules/.bin/redocly lint openapi/tapti.yaml --format=stylish

typecheck: $(PY_STAMP)
	$(BIN)/mypy

pytest: $(PY_STAMP) $(NODE_STAMP)  # the Prism contract tests need node_modules
	$(BIN)/pytest

# The documentation site (mkdocs.yml, docs/) into site/; --strict turns every warning (a broken
# link, a reference that does not resolve) into a failure. Offline: no plugin fetches anything.
# NO_MKDOCS_2_WARNING quiets mkdocs-material's banner about its successor, printed on every build.
docs: $(PY_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

demo: $(PY_STAMP)
	$(PY) scripts/demo.py

# Both build the wheel and measure in a clean venv holding only it and its runtime dependencies
# (.bench/venv-*, reused while the wheel is unchanged); run from scripts/ so that `-m bench` finds
# the benchmark package and nothing else of the checkout. docs/benchmarks.md has the method.
bench: $(PY_STAMP)
	cd scripts && $(abspath $(PY)) -m bench

bench-smoke: $(PY_STAMP)
	cd scripts && $(abspath $(PY)) -m bench --smoke

# The sdist, the wheel built from it, a check that a direct wheel holds the same files, twine check.
dist: $(PY_STAMP)
	$(PY) scripts/dist.py

# The test suite against the wheel from `make dist`, installed in a fresh venv per Python version.
matrix: dist $(NODE_STAMP)
	$(PY) scripts/matrix.py

# The wheel with its runtime dependencies at the lowest versions pyproject.toml allows (uv's
# lowest-direct resolution): the client, deadline, fork, raw and wire tests must pass on them.
lowest: dist
	$(PY) scripts/matrix.py --lowest --versions 3.11

test: install lint typecheck check-generated check-breaking pytest docs demo bench-smoke

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis .bench site
