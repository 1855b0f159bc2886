# mailpanel's entry points for developers and CI; `make help` lists them.
# Everything a target needs (Debian packages, services, the venv) is installed
# by scripts/bootstrap.sh, and the venv is reinstalled only when a requirements
# file changes (a digest stamp in .venv).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory
# apt and pip must never run twice at once.
.NOTPARALLEL:

VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Extra arguments for bench/lookups.py, e.g. `make bench ARGS=--help`.
ARGS ?=

# pytest exits 5 when it collected no test: a failure, and said so.
pytest = $(VENV)/bin/pytest $(1) || { status=$$?; \
	if [ $$status -eq 5 ]; then echo "make: pytest collected no tests" >&2; fi; \
	exit $$status; }

.PHONY: help run test lint format migrate mailserver bench clean \
	venv venv-dev services test-postgres test-sqlite

help:
	@echo "make run         quick start on SQLite: web server, Celery worker and beat on http://$(HOST):$(PORT)/"
	@echo "make test        the whole suite: ruff, then pytest on PostgreSQL and on SQLite"
	@echo "make lint        ruff check and ruff format --check"
	@echo "make format      sort imports and format the code with ruff"
	@echo "make migrate     apply the database migrations"
	@echo "make mailserver  install, configure and start Postfix and Dovecot"
	@echo "make bench       time the Postfix/Dovecot lookups on PostgreSQL (ARGS=--help)"
	@echo "make clean       remove the venv and caches (var/, with the quick start's data, stays)"

venv:
	scripts/bootstrap.sh --requirements requirements.txt

venv-dev:
	scripts/bootstrap.sh --requirements requirements-dev.txt

services:
	scripts/bootstrap.sh --services

# --- Quick start -----------------------------------------------------------------

run: export DEBUG := true
# Links in mail (password resets) point here, unless the environment says otherwise.
run: export MAILPANEL_BASE_URL ?= http://$(HOST):$(PORT)
run:
	scripts/bootstrap.sh --redis --requirements requirements.txt
	mkdir -p var
	$(PY) manage.py migrate --no-input
	$(PY) manage.py create_demo_admin --url "http://$(HOST):$(PORT)/admin/"
	HOST="$(HOST)" PORT="$(PORT)" scripts/run.sh

# Outside the tests and `make run`, a checkout with no configuration at all
# (no .env, no SECRET_KEY or SECRET_KEY_FILE) runs in development mode, like
# `make run`; a configured installation is left as it is.
ifeq ($(wildcard .env)$(SECRET_KEY)$(SECRET_KEY_FILE),)
migrate mailserver: export DEBUG ?= true
endif

migrate: venv
	mkdir -p var
	$(PY) manage.py migrate --no-input

# --- Tests -------------------------------------------------------------------------

# One bootstrap for all, so that apt-get update runs at most once. Set-up
# failures stop here; after that lint and both test runs all run
# (--keep-going) so one failure does not hide another, and make still fails.
test:
	scripts/bootstrap.sh --services --requirements requirements-dev.txt
	if [ -f scripts/mailserver-install.sh ]; then bash scripts/mailserver-install.sh; fi
	if [ -f scripts/backups-install.sh ]; then bash scripts/backups-install.sh; fi
	if [ -f scripts/browser-install.sh ]; then bash scripts/browser-install.sh; fi
	$(MAKE) --keep-going lint test-postgres test-sqlite

lint: venv-dev
	@echo "=== ruff check, ruff format --check ==="
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	exit $$status

format: venv-dev
	$(VENV)/bin/ruff check --select I --fix .
	$(VENV)/bin/ruff format .

# The whole suite on PostgreSQL, the production database: the URL is
# tests/settings.py's default (pytest-django creates test_mailpanel), or
# TEST_DATABASE_URL for checkouts that share one PostgreSQL
# (postgres://postgres@127.0.0.1:5432/other: pytest-django creates test_other).
TEST_DATABASE_URL ?=
test-postgres: venv-dev
	@echo "=== pytest on PostgreSQL ($(or $(TEST_DATABASE_URL),tests/settings.py's DATABASE_URL)) ==="
	@env -u DATABASE_URL $(if $(TEST_DATABASE_URL),DATABASE_URL="$(TEST_DATABASE_URL)") \
	$(call pytest)

# The model and view tests again on SQLite, the quick start's database
# (pytest-django runs them in memory).
test-sqlite: venv-dev
	@echo "=== pytest on SQLite (DATABASE_URL=sqlite:///var/test.sqlite3) ==="
	@DATABASE_URL=sqlite:///var/test.sqlite3 \
	$(call pytest,-m "not postgres and not mailserver" tests/domains tests/accounts)

# --- Mail server and tools -----------------------------------------------------------

mailserver: venv
	bash scripts/mailserver-install.sh
	$(PY) manage.py mailserver apply
	bash scripts/mailserver-start.sh

bench: services venv-dev
	$(PY) bench/lookups.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache var/test.sqlite3
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
