"""bench/flaky_table.py counts a run once whatever the number of its groups' JUnit files, and fails the
tally when a test failed or ran short."""

import subprocess
import sys

from helpers import ROOT

SCRIPT = ROOT / "bench" / "flaky_table.py"


FAILURE = '<failure message="x"/>'


def _junit(path, cases, seconds=1.0):
    body = "".join(
        f'<testcase classname="tests.{c}" name="{n}">{FAILURE * bad}</testcase>' for c, n, bad in cases
    )
    path.write_text(f'<testsuites><testsuite time="{seconds}">{body}</testsuite></testsuites>')


def _table(out, n, *args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(out), str(n), *args], capture_output=True, text=True, cwd=ROOT
    )


def test_two_groups_a_run_count_one_run_and_a_failure_fails_the_tally(tmp_path):
    for i in (1, 2):
        _junit(tmp_path / f"run{i}-cluster.xml", [("test_slurm", "test_demo", False)], seconds=100.0 * i)
        _junit(tmp_path / f"run{i}-faults.xml", [("test_faults", "test_kill", i == 2)], seconds=150.0)
    proc = _table(tmp_path, 2)
    assert proc.returncode == 1
    assert "| `tests.test_faults::test_kill` | 2 | 1 | 0 |" in proc.stdout
    assert "| `tests.test_slurm::test_demo` | 2 | 0 | 0 |" in proc.stdout
    # the groups of a run overlap: a run takes its longest group's time
    assert "2 runs of 2 tests (150-200 s a run): 1 failures" in proc.stdout


def test_a_group_missing_from_a_run_fails_the_tally_naming_its_tests(tmp_path):
    for i in (1, 2):
        _junit(tmp_path / f"run{i}-faults.xml", [("test_faults", "test_kill", False)])
    _junit(tmp_path / "run1-cluster.xml", [("test_slurm", "test_demo", False)])
    proc = _table(tmp_path, 2)
    assert proc.returncode == 1
    assert "fewer than 2 runs of: tests.test_slurm::test_demo" in proc.stdout


def test_clean_runs_pass_and_the_docs_block_is_rewritten_in_place(tmp_path):
    for i in (1, 2, 3):
        _junit(tmp_path / f"run{i}-faults.xml", [("test_faults", "test_kill", False)])
    docs = tmp_path / "testing.md"
    docs.write_text("before\n<!-- flaky:start -->\nold\n<!-- flaky:end -->\nafter\n")
    proc = _table(tmp_path, 3, "--docs", str(docs))
    assert proc.returncode == 0, proc.stdout
    text = docs.read_text()
    assert text.startswith("before\n<!-- flaky:start -->\nMeasured ")
    assert text.endswith("<!-- flaky:end -->\nafter\n")
    assert "3 runs of 1 tests (1-1 s a run): 0 failures, 0 skipped." in text and "old" not in text
