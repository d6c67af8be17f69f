#!/usr/bin/env bash
# GPU check, one prepared command for a GPU machine (see bench/gpu_check.py): both models with and
# without mixed precision and XLA, images/s, peak GPU memory and the projected study time. The python
# script stops starting settings after 420 s; `timeout` is the hard stop at 8 minutes.
# In a venv with `pip install -e '.[gpu]' && pip uninstall -y tensorflow-cpu`:
#     bash bench/gpu_check.sh [--steps 40]
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout 480 "${PYTHON:-python}" bench/gpu_check.py "$@"
