"""Extraction member by member: names at their limits, zip entries, counts and each refusal's message
(whole archives and the workflow's use of them: test_extract.py)."""

import hashlib
import io
import os
import re
import stat
import tarfile
import zipfile

import pytest

from workflow_scripts import extract as extract_mod
from workflow_scripts.extract import ArchiveError, UnsafeArchiveError, _check_name, _extract_zip, extract


@pytest.mark.parametrize(
    "name,why",
    [
        ("/etc/x.jpg", "has an absolute path"),
        ("\\share\\x.jpg", "has an absolute path"),
        ("C:", "has an absolute path"),
        ("C:x.jpg", "has an absolute path"),
        ("a/../../x.jpg", "leads outside the output folder ('..')"),
        ("a\\..\\..\\x.jpg", "leads outside the output folder ('..')"),
    ],
)
def test_unsafe_member_names_word_for_word(name, why):
    with pytest.raises(UnsafeArchiveError) as err:
        _check_name("A.zip", name)
    assert str(err.value) == f"A.zip: member {name!r} {why}"


@pytest.mark.parametrize("name", ["x", "ab", "a/b..c.jpg", "UTKFace/1_0_0_1.jpg", "..x"])
def test_safe_member_names_pass(name):
    _check_name("A.zip", name)


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_zip_entries_counted_and_folders_made(tmp_path):
    archive = _zip(
        tmp_path / "a.zip",
        [
            ("deep/er/", b"", stat.S_IFDIR | 0o755),  # a folder whose parent has no entry of its own
            ("deep/er/1.jpg", b"one", None),
            ("deep/", b"", stat.S_IFDIR | 0o755),  # listed after a file inside it
            ("deep/2.jpg", b"two", stat.S_IFREG | 0o644),
            ("x", b"three", None),
        ],
    )
    assert extract(archive, tmp_path / "out") == 3
    out = tmp_path / "out"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "deep",
        "deep/2.jpg",
        "deep/er",
        "deep/er/1.jpg",
        "x",
    ]
    assert (out / "deep/er/1.jpg").read_bytes() == b"one" and (out / "x").read_bytes() == b"three"


@pytest.mark.parametrize(
    "mode,why",
    [
        (stat.S_IFLNK | 0o777, "is a link"),
        (stat.S_IFCHR | 0o600, "is not a regular file"),
        (stat.S_IFIFO | 0o600, "is not a regular file"),
    ],
)
def test_zip_special_members_word_for_word(tmp_path, mode, why):
    archive = _zip(tmp_path / "a.zip", [("ok.jpg", b"1", None), ("bad", b"/etc/passwd", mode)])
    with pytest.raises(UnsafeArchiveError) as err:
        extract(archive, tmp_path / "out")
    assert str(err.value) == f"{archive}: member 'bad' {why}"
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [archive]


def test_zip_member_through_a_link_in_the_output_is_refused(tmp_path):
    # defence in depth: a link already inside the output folder must not carry a member outside it
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "via")
    archive = _zip(tmp_path / "a.zip", [("via/x.jpg", b"1", None)])
    with pytest.raises(UnsafeArchiveError) as err:
        _extract_zip(archive, tmp_path / "out", extract_mod._Budget(archive, extract_mod.Limits(10**9, 10)))
    assert str(err.value) == f"{archive}: member 'via/x.jpg' leads outside the output"
    assert not (tmp_path / "elsewhere" / "x.jpg").exists()


def test_tar_member_modes_are_made_safe(tmp_path):
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("UTKFace/1.jpg")
        info.size, info.mode = 3, 0o4777  # setuid, world-writable
        tar.addfile(info, io.BytesIO(b"abc"))
    assert extract(archive, tmp_path / "out") == 1
    mode = (tmp_path / "out/UTKFace/1.jpg").stat().st_mode
    assert not mode & stat.S_ISUID and not mode & stat.S_IWOTH


def test_md5_is_checked_in_either_case_and_errors_name_their_key(tmp_path):
    archive = _zip(tmp_path / "a.zip", [("x.jpg", b"1", None)])
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    assert extract(archive, tmp_path / "out", md5=digest.upper()) == 1
    with pytest.raises(ValueError) as err:
        extract(archive, tmp_path / "out", md5="0" * 32)
    assert str(err.value) == f"{archive}: MD5 is {digest}, expected {'0' * 32} (config key `dataset.md5`)"
    with pytest.raises(FileNotFoundError) as err:
        extract(tmp_path / "none.zip", tmp_path / "out")
    assert (
        str(err.value) == f"{tmp_path / 'none.zip'}: archive not found (config key `dataset.local_archive`)"
    )
    assert (tmp_path / "out/x.jpg").read_bytes() == b"1"  # the failures left the earlier output alone


def test_damaged_empty_and_foreign_archives_word_for_word(tmp_path):
    good = tmp_path / "g.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        for i in range(40):
            data = os.urandom(2000)
            info = tarfile.TarInfo(f"UTKFace/{i}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ArchiveError) as err:
        extract(cut, tmp_path / "out", key="evaluate.external[0]")
    assert re.fullmatch(
        rf"{re.escape(str(cut))}: damaged or not an archive \((EOFError|ReadError|BadGzipFile|error): .*\); "
        r"replace the file \(config key `evaluate.external\[0\]`\)",
        str(err.value),
    ), str(err.value)
    empty = _zip(tmp_path / "e.zip", [("folder/", b"", stat.S_IFDIR | 0o755)])
    with pytest.raises(ArchiveError) as err:
        extract(empty, tmp_path / "out")
    assert str(err.value) == f"{empty}: the archive holds no files (config key `dataset.local_archive`)"
    (tmp_path / "x.rar").write_bytes(b"Rar!" + bytes(100))
    with pytest.raises(ArchiveError) as err:
        extract(tmp_path / "x.rar", tmp_path / "out", key="k")
    assert str(err.value) == (
        f"{tmp_path / 'x.rar'}: not a .tar.gz, .tgz, .tar or .zip archive, or cut short; replace the file "
        "(config key `k`)"
    )
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tar.gz", "e.zip", "g.tar.gz", "x.rar"]


BOUNDS = ["--max-gb", "2", "--max-members", "100000"]


def test_a_stale_half_extraction_is_cleared_and_the_run_logged(tmp_path, capsys):
    archive = _zip(tmp_path / "a.zip", [("x.jpg", b"1", None), ("y.jpg", b"2", None)])
    stale = tmp_path / "out.extracting"
    stale.mkdir()
    (stale / "junk.jpg").write_bytes(b"killed run")
    extract_mod.main(["--archive", str(archive), "--out", str(tmp_path / "out"), *BOUNDS])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "out"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x.jpg", "y.jpg"]
    log = capsys.readouterr().err
    assert log.rstrip().endswith(f"utkface.extract: extracted 2 files from {archive} into {tmp_path / 'out'}")
    with pytest.raises(SystemExit) as err:
        extract_mod.main(
            ["--archive", str(tmp_path / "no.zip"), "--out", str(tmp_path / "o"), "--key", "kk", *BOUNDS]
        )
    assert str(err.value) == f"ERROR: {tmp_path / 'no.zip'}: archive not found (config key `kk`)"
