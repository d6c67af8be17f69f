"""The workflow's commit, as the jobs that write the report, the exports and train_info.json ask for it."""

import subprocess

from workflow_scripts.provenance import workflow_commit


def _git(repo, *args):
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def test_the_commit_is_flagged_when_tracked_files_changed_and_unknown_outside_git(tmp_path, monkeypatch):
    monkeypatch.delenv("GIT_DIR", raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "Snakefile").write_text("# v1\n")
    _git(repo, "add", "Snakefile")
    _git(repo, "commit", "-q", "-m", "v1")
    sha = _git(repo, "rev-parse", "HEAD")
    assert workflow_commit(repo) == sha
    (repo / "notes.txt").write_text("untracked files do not count\n")
    assert workflow_commit(repo) == sha
    (repo / "Snakefile").write_text("# v2\n")
    assert workflow_commit(repo) == f"{sha} (with uncommitted changes)"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert workflow_commit(plain) == "unknown (not a git checkout)"
    # a copy installed inside another repository (a venv in a home under git) is not that repository's code
    inside = repo / "venv" / "lib" / "site-packages"
    inside.mkdir(parents=True)
    assert workflow_commit(inside) == "unknown (not a git checkout)"
    monkeypatch.setenv("PATH", str(plain))  # no git at all
    assert workflow_commit(repo) == "unknown (git not found)"
