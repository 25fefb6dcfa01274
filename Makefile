# make run   - set up and start the portal with demo data (no database or Redis server needed)
# make test  - lint, checks and the whole test suite (uses DATABASE_URL / REDIS_URL when set)
# make bench - the benchmarks under bench/
# make audit - Lighthouse accessibility and best-practices scores (not part of make test)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PROD_ENV := DEBUG=false SECRET_KEY=check-deploy-$$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n') ALLOWED_HOSTS=portal.example.nhs.uk

.PHONY: run test lint bench browsers audit clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP) $@

run: $(STAMP)
	export DEBUG=$${DEBUG:-true}; \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py seed_demo && \
	trap 'kill 0' EXIT INT TERM; \
	$(VENV)/bin/celery -A carehome_portal worker --loglevel=INFO --concurrency=1 --logfile=var/worker.log & \
	$(VENV)/bin/celery -A carehome_portal beat --loglevel=INFO --logfile=var/beat.log & \
	$(PY) manage.py runserver 127.0.0.1:8000

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(DEV_STAMP) browsers lint
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run
	DEBUG=true $(PY) manage.py check --fail-level WARNING
	$(PROD_ENV) $(PY) manage.py check --deploy --fail-level WARNING
	DEBUG=true $(VENV)/bin/pytest -q -p no:cacheprovider

browsers:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

bench: $(DEV_STAMP)
	DEBUG=true $(PY) bench/check.py
	DEBUG=true $(PY) bench/imports.py
	DEBUG=true $(PY) bench/pages.py
	$(PY) bench/load.py

# Lighthouse goes into ./node_modules (npm's registry); it drives Debian's Chromium against a
# development server on 127.0.0.1 only.
LIGHTHOUSE_VERSION := 12
audit: $(STAMP) browsers
	@test -x node_modules/.bin/lighthouse || npm install --no-save --no-audit --no-fund --loglevel=error lighthouse@$(LIGHTHOUSE_VERSION)
	CHROME_PATH=$${CHROME_PATH:-/usr/bin/chromium} $(PY) scripts/audit.py

clean:
	rm -rf $(VENV) var
