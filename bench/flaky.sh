#!/usr/bin/env bash
# Run the fault and cluster tests N times (default 20) and print, per test, how many runs failed.
# Usage: bench/flaky.sh [N] [pytest args...]; the per-run JUnit files and the table go to
# bench/flaky-out/ (git-ignored); FLAKY_DOCS=docs/testing.md writes the table there. Exit status 1 if
# any test failed in any run.
#
# Each run starts the cluster tests and the others at once, as two pytest processes: the fault tests then
# run on a loaded machine (the condition under which clock-timed kills used to miss), and the cluster's
# idle waits (status polls, job start-up) overlap the training, so a run takes about two thirds of the
# time of the two one after the other. Each group has its own pytest base temp, emptied at its start.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
shift || true
PY=${PYTHON:-.venv/bin/python}
out=bench/flaky-out
tmp=${TMPDIR:-/tmp}/utkface-flaky
rm -rf "$out" && mkdir -p "$out" "$tmp"
cluster=(tests/test_slurm.py)
faults=(tests/test_faults.py tests/test_pausepoints.py
    "tests/test_train.py::test_resume_after_a_kill_continues_logs_each_epoch_once_and_says_so"
    "tests/test_train.py::test_an_unreadable_newest_state_falls_back_to_the_one_before_and_says_why"
    "tests/test_train.py::test_a_state_of_another_configuration_is_not_resumed")
group() { # group NAME RUN TESTS...
    local name=$1 i=$2
    shift 2
    "$PY" -m pytest -q -p no:cacheprovider --basetemp="$tmp/$name" --junitxml="$out/run$i-$name.xml" \
        "$@" "${extra[@]}" >"$out/run$i-$name.log" 2>&1
}
extra=("$@")
for i in $(seq "$n"); do
    start=$(date +%s)
    group cluster "$i" "${cluster[@]}" &
    pid=$!
    group faults "$i" "${faults[@]}"
    rc_faults=$?
    wait "$pid"
    rc_cluster=$?
    echo "run $i of $n: exit $rc_cluster (cluster) $rc_faults (faults) in $(($(date +%s) - start)) s"
done
"$PY" bench/flaky_table.py "$out" "$n" ${FLAKY_DOCS:+--docs "$FLAKY_DOCS"}
