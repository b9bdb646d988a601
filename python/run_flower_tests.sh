#!/usr/bin/env bash
# The Flower drop-in's tests (python/tests/test_flower.py,
# test_flower_review.py and test_flower_mutations.py): installs
# flwr[simulation] (Flower and Ray) into the venv python/run_tests.sh built
# (run that first; it installs this package), then runs them. CI runs this
# from scripts/test; it takes about a minute once the wheels are cached.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SECAGG_VENV:-$PWD/target/python-venv}"
"$venv/bin/python" -m pip install --quiet "flwr[simulation]==1.41.0"
cd python
"$venv/bin/python" -m pytest -q tests/test_flower.py tests/test_flower_review.py tests/test_flower_mutations.py \
  --doctest-modules "$("$venv/bin/python" -c 'import secagg, os; print(os.path.dirname(secagg.__file__))')/flower/_common.py" \
  "$("$venv/bin/python" -c 'import secagg, os; print(os.path.dirname(secagg.__file__))')/flower/mod.py"
