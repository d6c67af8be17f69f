"""Which code wrote a file: the workflow's git commit, asked for by the job that writes the file.

It is not a param of any rule: Snakemake reruns a job whose params change, and a commit that only touches
the docs must not rerun the report and the exports (the report says both the commit it was built from and
the ones its models were trained at, which may differ)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def workflow_commit(root: str | Path = ROOT) -> str:
    """The commit of the checkout holding this package, flagged when it has uncommitted changes. Only a
    checkout whose top is `root` counts: an installed copy inside some other repository is not that
    repository's code. `--no-optional-locks`: a job must not take the index lock from a user's `git add`."""
    git = ["git", "--no-optional-locks", "-C", str(root)]

    def ask(*args: str) -> str:
        return subprocess.run([*git, *args], capture_output=True, text=True, check=True).stdout.strip()

    try:
        top = ask("rev-parse", "--show-toplevel")
        if Path(top).resolve() != Path(root).resolve():
            return "unknown (not a git checkout)"
        sha, dirty = ask("rev-parse", "HEAD"), ask("status", "--porcelain", "--untracked-files=no")
    except OSError:
        return "unknown (git not found)"
    except subprocess.CalledProcessError:
        return "unknown (not a git checkout)"
    return sha + (" (with uncommitted changes)" if dirty else "")
