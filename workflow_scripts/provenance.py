"""Which code wrote a file: the workflow's git commit, asked for by the job that writes the file.

It is not a param of any rule: Snakemake reruns a job whose params change, and a commit that only touches
the docs must not rerun the report and the exports (the report says both the commit it was built from and
the ones its models were trained at, which may differ)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def workflow_commit(root: str | Path = ROOT) -> str:
    """The commit of the checkout holding this package, flagged when it has uncommitted changes."""
    git = ["git", "-C", str(root)]
    try:
        sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return sha.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
