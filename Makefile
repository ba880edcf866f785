# The one entry point: make install | check | test | demo | up | lab | bench
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= api,flower,dev,ai,knowledge,runbooks

.PHONY: install check lint typecheck test demo up lab bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "claw_lab needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo 'python -m venv failed: on Debian/Ubuntu, apt-get install python3-venv'; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

check: lint typecheck test

lint: install
	$(VENV)/bin/ruff check claw_lab handlers tests bench
	$(VENV)/bin/ruff format --check claw_lab handlers tests bench

typecheck: install
	$(VENV)/bin/mypy

test: install
	$(PY) -m pytest
	$(PY) -m pytest --nbval-lax --nbval-current-env notebooks/

demo: install
	$(VENV)/bin/claw-lab demo

up: install
	$(VENV)/bin/claw-lab up

lab: install
	$(VENV)/bin/claw-lab up --lab --lab-open notebooks/explore.ipynb

bench: install
	$(PY) bench/tracking_overhead.py
	$(PY) bench/round_trip.py
	$(PY) bench/registry_scale.py
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
