"""The environment the workflow's jobs inherit, set once while the Snakefile is parsed."""

from __future__ import annotations

import os
import sys


def prepare_job_environment(workflow_root: str, python: str = sys.executable) -> None:
    """Make a job's `python -m workflow_scripts.X` run the Python that runs Snakemake, with this workflow's
    package importable, whatever the caller's PATH, PYTHONPATH or working directory (a new user's
    `.venv/bin/snakemake` without activating the venv; a module inside someone else's workflow).

    Jobs inherit this process's environment, locally and on cluster nodes (where Snakemake parses the
    Snakefile again). A conda job activates its env inside the command, so its `python` still wins."""
    bindir = os.path.dirname(os.path.abspath(python))
    path = os.environ.get("PATH", "").split(os.pathsep)
    if path[:1] != [bindir]:
        os.environ["PATH"] = os.pathsep.join([bindir, *filter(None, path)])
    pythonpath = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if workflow_root not in pythonpath:
        os.environ["PYTHONPATH"] = os.pathsep.join([workflow_root, *filter(None, pythonpath)])
