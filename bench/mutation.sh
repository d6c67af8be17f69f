#!/usr/bin/env bash
# Mutation testing (mutmut 3) of the modules that need no TensorFlow, against their fast in-process tests
# (the list and the test selection are in pyproject.toml, [tool.mutmut]); prints the share of mutants
# killed per module. On demand, not in CI: about 40 minutes on 2 cores (mutants that hang the download
# tests wait out their timeout). Survivors: mutmut browse.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev,mutation ./run.sh install
rm -rf mutants
.venv/bin/python -m mutmut run --max-children "${JOBS:-2}" >/dev/null
.venv/bin/python bench/mutation_score.py
