"""Jobs keep their chatter in the log, and their one-line error reaches the terminal too (also a failing
rule's, run through the real `snakemake`)."""

import shutil
import subprocess
import sys

import pytest
from helpers import LABELS, ROOT, local_dir_config, snakemake

from workflow_scripts.step import split_log_arg


def test_split_log_arg():
    assert split_log_arg(["--a", "1", "--log", "x.log", "--b"]) == (["--a", "1", "--b"], "x.log")
    assert split_log_arg(["--log=y.log"]) == ([], "y.log")
    assert split_log_arg(["--a"]) == (["--a"], None)


def _job(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "workflow_scripts.labels", *args, "--log", str(tmp_path / "logs/x.log")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.cli
def test_an_error_reaches_the_terminal_and_the_log(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = _job(tmp_path, "--images", str(tmp_path / "empty"), "--labels", str(tmp_path / "l.csv"),
                "--rejected", str(tmp_path / "r.csv"))  # fmt: skip
    assert proc.returncode == 1
    assert "ERROR:" in proc.stderr and "no usable UTKFace image found" in proc.stderr
    assert str(tmp_path / "logs/x.log") in proc.stderr
    assert "no usable UTKFace image found" in (tmp_path / "logs/x.log").read_text()


@pytest.mark.cli
def test_a_crash_names_the_exception_on_the_terminal_with_the_traceback_in_the_log(tmp_path):
    (tmp_path / "img").mkdir()
    # a folder where the labels CSV should go: an unexpected OSError deep inside
    (tmp_path / "l.csv").mkdir()
    from workflow_scripts import synthetic

    synthetic.generate(tmp_path / "img", 3, seed=1, quirks=False)
    proc = _job(tmp_path, "--images", str(tmp_path / "img"), "--labels", str(tmp_path / "l.csv"),
                "--rejected", str(tmp_path / "r.csv"))  # fmt: skip
    assert proc.returncode == 1
    assert "ERROR: IsADirectoryError" in proc.stderr and "Traceback" not in proc.stderr
    log = (tmp_path / "logs/x.log").read_text()
    assert "Traceback" in log and "images labelled" not in log


@pytest.mark.cli
def test_without_log_output_stays_on_the_terminal(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "workflow_scripts.labels", "--images", str(tmp_path / "nope"),
         "--labels", "l.csv", "--rejected", "r.csv"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1 and "image folder not found" in proc.stderr


@pytest.mark.cli
def test_a_failing_rule_shows_its_own_message_on_the_terminal(tmp_path):
    empty = tmp_path / "nothing_usable"
    empty.mkdir()
    (empty / "readme.txt").write_text("no faces here")
    proc = snakemake(tmp_path, "-c1", *local_dir_config(tmp_path, empty), "--", LABELS, check=False)
    assert proc.returncode != 0
    assert "no usable UTKFace image found (1 rejected)" in proc.stderr
    shutil.rmtree(empty)
