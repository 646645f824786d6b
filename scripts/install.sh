#!/usr/bin/env bash
# Create .venv (Python 3.11) if missing and install the project with its pinned dependencies.
# Usage: bash scripts/install.sh [--test]
#   --test adds pytest (with pytest-xdist), ruff, playwright and the `distributed` extras, redis-server (Debian package)
#   for the scale-out tests, which also start PostgreSQL 15 (from the machine image) and moto's S3 server, and
#   chromium (Debian package) for the browser tests (playwright drives it; no browser download).
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
if [ "${1:-}" = "--test" ]; then
  extras="[test,distributed]"
  if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
    else
      echo "install.sh: redis-server is missing; install it (sudo apt-get install redis-server) for the scale-out tests" >&2
    fi
  fi
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    else
      echo "install.sh: /usr/bin/chromium is missing; install it (sudo apt-get install chromium) for the browser tests" >&2
    fi
  fi
fi
if [ ! -x .venv/bin/python ]; then
  py=$(command -v python3.11 || command -v python3)
  "$py" -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python 3.11+ is needed"'
  "$py" -m venv .venv
fi
start=$(date +%s)
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
# CrossEfficientViT's face step: facenet-pytorch's MTCNN (its P/R/O-Net weights ship in the package). Its metadata
# pins torch<2.3, which its code does not need; --no-deps keeps the pinned torch above.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "facenet-pytorch==2.6.0"
.venv/bin/python -c "import semitruths_dagster, torch, torchvision, dagster" \
  || { echo "install.sh: the environment does not import; see the pip output above" >&2; exit 1; }
echo "install.sh: .venv ready in $(( $(date +%s) - start )) s"
