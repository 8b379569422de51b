# Two entry points, both safe on a fresh Debian machine with Python 3.11+ (run as root or with sudo for apt).
#   make app   -> install, write the demo dataset into data/curator.duckdb, start the app on 127.0.0.1:8501
#   make test  -> install (with Debian's chromium for browser tests) and run the whole test suite
PY ?= python3
DB ?= data/curator.duckdb

.PHONY: install install-test app test lint

install:
	$(PY) -m pip install --quiet "torch==2.13.0" || $(PY) -m pip install --quiet torch
	$(PY) -m pip install --quiet -e ".[train,ray,dev]"

install-test: install
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)

app: install
	curator demo --db $(DB)
	curator serve --db $(DB)

test: install-test
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -n 2 --dist loadgroup

lint:
	ruff check curator tests bench pages app.py
