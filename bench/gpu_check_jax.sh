#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py) on a GPU machine that has JAX but no TensorFlow and no internet:
# Keras runs on the JAX backend, with the few wheels the machine lacks brought along in .whl/ (git-ignored).
#   on a machine with internet, once:  bash bench/gpu_check_jax.sh --fetch
#   copy the checkout, .whl/ included, to the GPU machine, then there:
#                                      bash bench/gpu_check_jax.sh [--steps 40]   (ends within 8 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
# Keras and what it and our config check need beyond that machine's Python 3.12 packages
WHEELS=(keras==3.15.1 namex optree jsonschema jsonschema-specifications referencing rpds-py)
if [[ ${1:-} == --fetch ]]; then
    rm -rf .whl
    exec "${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
fi
if [[ ! -d .whl ]]; then
    echo "ERROR: no .whl folder: run 'bash bench/gpu_check_jax.sh --fetch' on a machine with internet and copy .whl/ here" >&2
    exit 1
fi
python3 -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false
exec timeout "${LIMIT_S:-480}" python3 bench/gpu_check.py "$@"
