# The one entry point: make install | check | test | demo | up | lab | bench
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= api,flower,notebook,runbooks,dev,ai,knowledge

.PHONY: install check lint typecheck test test-tools demo up lab bench clean

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

test: install test-tools
	$(PY) -m pytest
	$(PY) -m pytest --nbval-lax --nbval-current-env notebooks/

# Programs some tests drive: Debian's chromium for the browser tests (Playwright cannot
# download its own here) and a real Prometheus scraping the API. Installed with apt when
# missing and we are root; otherwise those tests skip and say why.
CHROMIUM ?= /usr/bin/chromium
TEST_PACKAGES = $(if $(wildcard $(CHROMIUM)),,chromium) $(if $(shell command -v prometheus),,prometheus)
test-tools:
	@if [ -z "$(strip $(TEST_PACKAGES))" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $(strip $(TEST_PACKAGES)) with apt"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEST_PACKAGES) >/dev/null \
		|| echo "could not install $(strip $(TEST_PACKAGES)) with apt: the tests that need them will be skipped"; \
	else echo "$(strip $(TEST_PACKAGES)) missing and installing needs root: the tests that need them will be skipped"; fi

demo: install
	$(VENV)/bin/claw-lab demo

up: install
	$(VENV)/bin/claw-lab up

lab: install
	$(VENV)/bin/claw-lab up --lab --lab-open notebooks/explore.ipynb

bench: install
	$(PY) bench/tracking_overhead.py
	$(PY) bench/worker_cost.py
	$(PY) bench/round_trip.py
	$(PY) bench/registry_scale.py
	$(PY) bench/ingest.py
	$(PY) bench/widgets_refresh.py
	$(PY) bench/widgets_memory.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
