#!/usr/bin/env bash
# The GPU numbers of a GPU machine without internet (JAX and no TensorFlow installed, many cores), in one
# command of under 10 minutes: the GPU check on JAX (bench/gpu_check_jax.sh, settings started within
# 280 s), then the data bench on 2 to 16 worker processes (the naive loader uses one core whatever the
# machine). With OUT set to a folder, the output is also written to $OUT/device_check.txt.
#   on a machine with internet, once:  bash bench/gpu_check_jax.sh --fetch   (downloads the wheels into .whl/)
#   copy the checkout, .whl/ included, to the GPU machine, then there:  bash bench/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"
    LIMIT_S=380 bash bench/gpu_check_jax.sh --budget-s 280
    PYTHONPATH=/tmp/site KERAS_BACKEND=jax timeout 190 python3 bench/bench_data.py --sizes 2000 20000 \
        --repeat 2 --workers 2 4 8 16
} 2>&1 | tee "${OUT:-/tmp}/device_check.txt"
