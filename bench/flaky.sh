#!/usr/bin/env bash
# Run the fault and cluster tests N times (default 20) and print, per test, how many runs failed.
# Usage: bench/flaky.sh [N] [pytest args...]; the per-run JUnit files and the table go to
# bench/flaky-out/ (git-ignored); FLAKY_DOCS=docs/testing.md writes the table there. Exit status 1 if
# any test failed in any run.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
shift || true
PY=${PYTHON:-.venv/bin/python}
out=bench/flaky-out
rm -rf "$out" && mkdir -p "$out"
tests=(tests/test_faults.py tests/test_pausepoints.py tests/test_slurm.py
       "tests/test_train.py::test_resume_after_a_kill_continues_logs_each_epoch_once_and_says_so"
       "tests/test_train.py::test_an_unreadable_newest_state_falls_back_to_the_one_before_and_says_why"
       "tests/test_train.py::test_a_state_of_another_configuration_is_not_resumed")
for i in $(seq "$n"); do
    start=$(date +%s)
    "$PY" -m pytest -q -p no:cacheprovider --junitxml="$out/run$i.xml" "${tests[@]}" "$@" >"$out/run$i.log" 2>&1
    echo "run $i of $n: exit $? in $(($(date +%s) - start)) s"
done
"$PY" bench/flaky_table.py "$out" "$n" ${FLAKY_DOCS:+--docs "$FLAKY_DOCS"}
