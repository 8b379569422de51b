#!/usr/bin/env bash
# Fetch the wheels bench/device_check.sh needs on the device image (Python 3.12, x86-64) into .whl/
# (git-ignored). Run once where pip reaches PyPI; then carry ".whl" in the device call.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "duckdb==2.0.1"
ls -la .whl
