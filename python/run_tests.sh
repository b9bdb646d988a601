#!/usr/bin/env bash
# Builds and installs the Python package into a fresh venv
# (pip install ./python pytest numpy), then runs its tests and doctests.
# CI runs this from scripts/test.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SECAGG_VENV:-$PWD/target/python-venv}"
python3 -m venv "$venv"
# `python -m pip`, not bin/pip: the script's shebang of a venv copied from
# another checkout points into that one.
pip=("$venv/bin/python" -m pip)
"${pip[@]}" install --quiet --upgrade pip
"${pip[@]}" install --quiet pytest numpy cffi
# Rebuilt every time: pip keeps an installed package of the same version.
"${pip[@]}" install --quiet --force-reinstall --no-deps ./python
cd python
"$venv/bin/python" -m pytest -q tests --ignore tests/test_flower.py --ignore tests/test_flower_review.py --ignore tests/test_flower_mutations.py --doctest-modules "$("$venv/bin/python" -c 'import secagg, os; print(os.path.dirname(secagg.__file__))')/__init__.py" "$("$venv/bin/python" -c 'import secagg, os; print(os.path.dirname(secagg.__file__))')/_errors.py"
