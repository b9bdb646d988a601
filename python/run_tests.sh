#!/usr/bin/env bash
# Builds and installs the Python package into a fresh venv
# (pip install ./python pytest numpy), then runs its tests and doctests.
# CI runs this from scripts/test.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SECAGG_VENV:-$PWD/target/python-venv}"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet ./python pytest numpy
cd python
"$venv/bin/python" -m pytest -q tests --doctest-modules "$("$venv/bin/python" -c 'import secagg, os; print(os.path.dirname(secagg.__file__))')/__init__.py" "$("$venv/bin/python" -c 'import secagg, os; print(os.path.dirname(secagg.__file__))')/_errors.py"
