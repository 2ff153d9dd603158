# govshare — set-up and checks.  `make demo` and `make test` are the two commands in README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
VENDOR := govshare/static/vendor
PYTEST_ARGS ?= -n auto
# The test runs keep compiled modules (and pytest's rewritten test modules) in __pycache__ even where
# the environment says not to: each xdist worker, subprocess and the second pass then skips compiling
# (a worker's collection 10 s -> 4 s on 2 cores; docs/benchmarks.md "Test-suite speed").
TEST_ENV := PYTHONDONTWRITEBYTECODE=

.PHONY: demo test test-sqlite test-postgres lint check venv frontend messages clean

demo: venv frontend
	$(BIN)/govshare demo

test: venv frontend check test-sqlite test-postgres

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "govshare needs Python >= 3.11 (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: on Debian/Ubuntu run 'apt-get install python3-venv' and try again"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

frontend: $(VENDOR)/.installed

$(VENDOR)/.installed: frontend/package.json frontend/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then apt-get update -qq && apt-get install -y -qq npm >/dev/null; \
	  else echo "npm is needed once at set-up for the front-end packages: apt-get install npm"; exit 1; fi; }
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp frontend/node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp frontend/node_modules/echarts/dist/echarts.min.js $(VENDOR)/echarts.min.js
	@touch $@

check: venv
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python scripts/compile_messages.py --check
	$(BIN)/python scripts/gen_audit_codes.py --check

test-sqlite: venv
	$(TEST_ENV) DATABASE_URL= $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: venv
	$(TEST_ENV) $(BIN)/python scripts/with_postgres.py -- $(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy govshare

messages: venv
	$(BIN)/python scripts/compile_messages.py

clean:
	rm -rf $(VENV) frontend/node_modules $(VENDOR) build *.egg-info
