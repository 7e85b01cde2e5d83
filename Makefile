# Pulse: setup, tests and the local platform, one command each.
#
# `make test` and `make run` work from a fresh clone on Debian with Python 3.11 and Java 17:
# they build .venv from the pinned requirements (once, again when requirements.txt or
# pyproject.toml change), make sure PostgreSQL, MariaDB and Redis run (scripts/services.sh),
# then do their work.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv installs the pinned requirements: the same packages as pip, from PyPI, in 30 s instead of
# 85 (a new venv on a 2-core machine with a warm cache; pip compiles every module as it goes).
UV := uv==0.13.9
BENCHMARKS ?=

.PHONY: help venv services java browser test faults platform run dashboard notebooks up down status lint bench clean

help:
	@echo "make test      set up, then ruff, mypy and the whole test suite"
	@echo "make faults    the fault suite: real kills and outages (~18 min)"
	@echo "make platform  spark-submit, a standalone cluster, then the whole platform (make run) for 5 minutes (~10 min)"
	@echo "make run       set up, then the platform with simulated traffic until Ctrl-C"
	@echo "make dashboard the Streamlit dashboard alone (make run starts it too)"
	@echo "make notebooks JupyterLab on notebooks/, reading what the jobs wrote"
	@echo "make up | status | down   the local stack (broker, topics, migrations)"
	@echo "make venv      .venv with the pinned requirements"
	@echo "make services  PostgreSQL, MariaDB and Redis running, with their test databases"
	@echo "make browser   Chromium and ChromeDriver for the browser tests (apt-get)"
	@echo "make lint      ruff check and format check, mypy"
	@echo "make bench     the benchmarks (BENCHMARKS=benchmarks/x.py for one)"
	@echo "make clean     stop the local broker and remove .pulse (not the venv)"

venv: $(STAMP)

# Debian's Python lacks ensurepip until python3.11-venv is installed: install it when root.
$(STAMP): requirements.txt pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
	  command -v $(PYTHON) >/dev/null || { \
	    echo "venv: $(PYTHON) not found; install Python 3.11 (apt-get install -y python3.11 python3.11-venv)" >&2; \
	    exit 1; }; \
	  if ! $(PYTHON) -m venv $(VENV) >/dev/null 2>&1; then \
	    rm -rf $(VENV); \
	    if [ "$$(id -u)" -ne 0 ]; then \
	      echo "venv: '$(PYTHON) -m venv' fails (no ensurepip); install it: sudo apt-get install -y python3.11-venv" >&2; \
	      exit 1; \
	    fi; \
	    echo "venv: installing python3.11-venv (apt-get)"; \
	    apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11-venv >/dev/null \
	      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	    $(PYTHON) -m venv $(VENV); \
	  fi; \
	fi
	$(BIN)/python -m pip install -q $(UV)
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $@

services:
	@bash scripts/services.sh

# Spark needs Java 17 or newer.
java:
	@major=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1); \
	if [ "$${major:-0}" -lt 17 ]; then \
	  echo "java: Spark needs Java 17 or newer (found: $${major:-none}); install it: apt-get install -y openjdk-17-jre-headless" >&2; \
	  exit 1; \
	fi

# The browser tests drive Debian's Chromium through its ChromeDriver (selenium, pinned).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] \
	    || [ ! -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "browser: install Chromium for the browser tests: sudo apt-get install -y chromium chromium-driver fonts-noto-color-emoji" >&2; \
	    exit 1; \
	  fi; \
	  echo "browser: installing chromium, chromium-driver and an emoji font (apt-get)"; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver fonts-noto-color-emoji >/dev/null; \
	fi

# The fault suite (tests/faults/: each job's driver killed mid-batch, 20 kills of the live
# driver, each store stopped 30 s, the broker frozen 30 s; about 18 minutes of real faults,
# each restart a spark-submit) is a tier of its own, which CI runs after `make test`
# (.ci/run): with it, `make test` would pass its 25-minute budget.
test: venv services java browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest --ignore=tests/faults --ignore=tests/platform --ignore=tests/cluster \
	  --ignore=$(DELIVERY_E2E)

faults: venv services java
	$(BIN)/pytest tests/faults

# The delivery tier end to end with the live job through spark-submit (about 50 s) runs here.
DELIVERY_E2E := tests/services/gateway/test_delivery_e2e.py

# Whole processes through spark-submit: spark-submit.sh and a standalone cluster, then `pulse
# run` briefly, then the whole platform as `make run` starts it, on the machine's own ports and
# .pulse/, for five minutes: a tier of its own, since it cannot share the machine with the others.
platform: venv services java
	$(BIN)/pytest tests/cluster $(DELIVERY_E2E) tests/platform

run: venv services java
	$(BIN)/pulse run

dashboard: venv services
	$(BIN)/pulse dashboard

notebooks: venv services
	$(BIN)/jupyter lab --notebook-dir=notebooks

up: venv services
	$(BIN)/pulse up

down: venv
	$(BIN)/pulse down

status: venv
	$(BIN)/pulse status

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# One run of every benchmark (about 25 minutes on two cores), then docs/BENCHMARKS.md and its
# plots from it (benchmarks/suite.py); BENCHMARKS=benchmarks/x.py (space-separated) runs those only.
bench: venv services java
	$(BIN)/python benchmarks/suite.py $(addprefix --only ,$(BENCHMARKS))

# The broker is stopped first: removing its pid file would leave it running, unowned.
clean:
	@if [ -x $(BIN)/pulse ]; then $(BIN)/pulse down; fi
	rm -rf .pulse spark-warehouse metastore_db derby.log
