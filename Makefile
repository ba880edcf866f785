# The one entry point: make install | check | test | demo | up | bench
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= api,flower,notebook,dev,ai,knowledge

.PHONY: install browser-deps check lint typecheck test demo up bench clean

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

test: install browser-deps
	$(PY) -m pytest

# The browser tests drive Debian's chromium (Playwright cannot download its own here).
CHROMIUM ?= /usr/bin/chromium
browser-deps:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "$(CHROMIUM) is missing and installing it needs root (apt-get install chromium): the browser tests will be skipped"; fi

demo: install
	$(VENV)/bin/claw-lab demo

up: install
	$(VENV)/bin/claw-lab up

bench: install
	$(PY) bench/tracking_overhead.py
	$(PY) bench/round_trip.py
	$(PY) bench/registry_scale.py
	$(PY) bench/ingest.py
	$(PY) bench/widgets_refresh.py
	$(PY) bench/widgets_memory.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
