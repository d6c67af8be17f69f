"""The environment jobs inherit: the Python running Snakemake first on PATH, our package importable."""

import os
import subprocess
import sys

import pytest
from helpers import ROOT

from workflow_scripts.jobenv import prepare_job_environment


@pytest.mark.cli
def test_a_job_shell_finds_our_python_and_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    prepare_job_environment(str(ROOT), sys.executable)
    prepare_job_environment(str(ROOT), sys.executable)  # idempotent: a second parse adds nothing
    assert os.environ["PATH"].split(os.pathsep).count(os.path.dirname(os.path.abspath(sys.executable))) == 1
    assert os.environ["PYTHONPATH"] == f"{ROOT}{os.pathsep}/elsewhere"
    probe = "import sys, workflow_scripts; print(sys.executable); print(workflow_scripts.__file__)"
    out = subprocess.run(
        ["bash", "-c", f"python -c '{probe}'"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert os.path.dirname(out[0]) == os.path.dirname(os.path.abspath(sys.executable))
    assert out[1].startswith(str(ROOT))
