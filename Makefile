# Hearth. `make run` serves the app; `make test` runs the whole suite. `make help` lists the rest.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HTMX := node_modules/htmx.org/dist/htmx.min.js
AXE := node_modules/axe-core/axe.min.js

WORKERS ?= $(or $(WEB_CONCURRENCY),2)
BIND ?= 127.0.0.1:8000

.PHONY: help install run serve worker test lint bench clean

help:  ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-installed: requirements-test.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

$(VENV)/.bench-installed: requirements-bench.txt $(VENV)/.test-installed
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

$(HTMX): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# axe-core: the browser tests check every screen with it (npm ci above installs it with htmx).
$(AXE): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

install: $(VENV)/.installed $(HTMX)  ## Create .venv and install what the app needs

# The reminder worker runs beside the web app and stops with it (Ctrl-C or any exit ends both).
WORKER = $(BIN)/huey_consumer worker.huey --workers 2
WITH_WORKER = $(WORKER) & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM;

run: install  ## Install, migrate the SQLite database under instance/, serve on http://127.0.0.1:5000 with the reminder worker
	$(FLASK) db upgrade
	$(WITH_WORKER) $(FLASK) run --host 127.0.0.1 --port 5000

serve: install  ## Production: migrate DATABASE_URL, then gunicorn (WORKERS=2, BIND=127.0.0.1:8000) and the reminder worker
	$(FLASK) db upgrade
	$(WITH_WORKER) $(BIN)/gunicorn --workers $(WORKERS) --bind $(BIND) --access-logfile - "app:create_app()"

worker: install  ## Only the reminder worker (Huey consumer), e.g. under systemd
	$(WORKER)

/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# nginx: tests/test_deploy.py serves deploy/nginx/hearth.conf in front of two instances.
/usr/sbin/nginx:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx

lint: $(VENV)/.test-installed  ## ruff: pyflakes, pycodestyle errors, isort, bugbear, pyupgrade, and the formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install $(AXE) $(VENV)/.test-installed /usr/bin/chromium /usr/sbin/nginx lint  ## Install test needs (Debian's chromium and nginx), lint, and run the whole suite
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install $(VENV)/.bench-installed  ## Seed databases, load Hearth under gunicorn, write bench/RESULTS.md and latency.png
	$(BIN)/python bench/run.py

clean:  ## Remove the virtualenv and node_modules (keeps instance/ data)
	rm -rf $(VENV) node_modules
