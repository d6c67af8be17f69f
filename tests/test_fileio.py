"""Atomic writes: a file or folder appears whole or not at all, with the modes the umask gives."""

import os

import pytest

from workflow_scripts.fileio import atomic_dir, atomic_path


@pytest.fixture()
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_an_atomic_folder_gets_the_umask_mode_not_mkdtemps_0700(tmp_path, umask_022):
    with atomic_dir(tmp_path / "scenes") as tmp:
        (tmp / "a.jpg").write_bytes(b"x")
    assert (tmp_path / "scenes" / "a.jpg").read_bytes() == b"x"
    assert (tmp_path / "scenes").stat().st_mode & 0o777 == 0o755


def test_an_atomic_file_gets_the_umask_mode(tmp_path, umask_022):
    with atomic_path(tmp_path / "t.csv", ".csv") as tmp:
        tmp.write_text("a\n")
    assert (tmp_path / "t.csv").stat().st_mode & 0o777 == 0o644


def test_a_failed_block_leaves_the_earlier_folder_and_no_scratch(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "out") as tmp:
        (tmp / "new").write_text("half")
        raise RuntimeError("cut")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (tmp_path / "out" / "keep").read_text() == "old"
