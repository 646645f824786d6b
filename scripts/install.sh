#!/usr/bin/env bash
# Create .venv (Python 3.11) if missing and install the project with its pinned dependencies.
# Usage: bash scripts/install.sh [--test]   (--test adds pytest and ruff)
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
if [ ! -x .venv/bin/python ]; then
  py=$(command -v python3.11 || command -v python3)
  "$py" -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python 3.11+ is needed"'
  "$py" -m venv .venv
fi
start=$(date +%s)
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
.venv/bin/python -c "import semitruths_dagster, torch, torchvision, dagster" \
  || { echo "install.sh: the environment does not import; see the pip output above" >&2; exit 1; }
echo "install.sh: .venv ready in $(( $(date +%s) - start )) s"
