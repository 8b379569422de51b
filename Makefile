# Two entry points for a fresh machine with Python 3.11+ (apt needs root for the browser tests):
#   make app   -> install into .venv, write the demo dataset into data/curator.duckdb, start computing its
#                 signals in the background (first run; progress on the Signals page), serve on 127.0.0.1:8501
#   make test  -> install into .venv (plus Debian's chromium for browser tests) and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DB ?= data/curator.duckdb

.PHONY: install install-test app test lint

# torch first: the pinned CPU build is found locally where it exists; a plain `torch` would pull CUDA wheels.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "torch==2.13.0" || $(PY) -m pip install --quiet torch
	$(PY) -m pip install --quiet -e ".[train,ray,dev]"
	touch $@

install: $(VENV)/.installed

install-test: install
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)

app: install
	$(PY) -m curator demo --db $(DB) --signals
	$(PY) -m curator serve --db $(DB)

# Browser tests run in their own process: playwright's sync API refuses a thread where an earlier
# test left an asyncio loop running.
test: install-test
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -n 2 --dist loadgroup -m "not browser"
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -m browser

lint: install
	$(VENV)/bin/ruff check curator tests bench pages app.py
