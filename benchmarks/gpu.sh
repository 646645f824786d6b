#!/usr/bin/env bash
# Every GPU figure in one table: `bash benchmarks/gpu.sh` on a machine with a CUDA GPU (< 8 min);
# `bash benchmarks/gpu.sh --smoke` (or no GPU) runs the small CPU version that CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=$(command -v python3)
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ "${1:-}" != "--smoke" ] && ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu.sh: no CUDA device here; running the small CPU version (--smoke)" >&2
  set -- --smoke "$@"
fi
exec "$py" benchmarks/gpu.py "$@"
