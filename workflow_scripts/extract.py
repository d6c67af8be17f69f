"""Safe extraction of the dataset archive (.tar.gz, .tgz, .tar, .zip).

Members with absolute paths, `..`, links or device files are refused: the whole extraction fails and
names the member, rather than skipping it silently.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from .fileio import md5sum, setup_logging

log = logging.getLogger("utkface.extract")


class UnsafeArchiveError(ValueError):
    """The archive holds a member that could escape the output folder or is not a regular file."""


def _check_name(archive: Path, name: str) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    if ".." in p.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} leads outside the output folder ('..')")


def _extract_tar(archive: Path, out: Path) -> int:
    n = 0
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            _check_name(archive, m.name)
            if m.issym() or m.islnk():
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a link")
            if not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device, FIFO or special file")
        # The 'data' filter is a second line of defence (and drops setuid bits and odd permissions).
        tar.extractall(out, members=members, filter="data")
        n = sum(m.isfile() for m in members)
    return n


def _extract_zip(archive: Path, out: Path) -> int:
    n = 0
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _check_name(archive, info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip records no Unix file type
            if kind == stat.S_IFLNK:
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a link")
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is not a regular file")
        root = out.resolve()
        for info in infos:
            target = (out / info.filename).resolve()
            if root != target and root not in target.parents:
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} leads outside the output")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            n += 1
    return n


def extract(archive: str | os.PathLike, out: str | os.PathLike, md5: str | None = None) -> int:
    """Extract `archive` into the folder `out` (created; must not exist yet). Returns the file count."""
    archive, out = Path(archive), Path(out)
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: archive not found (config key `dataset.local_archive`)")
    if md5:
        got = md5sum(archive)
        if got != md5.lower():
            raise ValueError(f"{archive}: MD5 is {got}, expected {md5} (config key `dataset.md5`)")
    name = archive.name.lower()
    # Extract beside the output and rename at the end: a failed extraction leaves no half-filled folder.
    tmp = out.with_name(out.name + ".extracting")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if name.endswith(".zip"):
            n = _extract_zip(archive, tmp)
        elif name.endswith((".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")):
            n = _extract_tar(archive, tmp)
        else:
            raise ValueError(f"{archive}: unknown archive type (expected .tar.gz, .tgz, .tar or .zip)")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("extracted %d files from %s into %s", n, archive, out)
    return n


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--archive", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--md5")
    a = p.parse_args(argv)
    setup_logging()
    try:
        extract(a.archive, a.out, a.md5 or None)
    except (UnsafeArchiveError, ValueError, FileNotFoundError, tarfile.TarError, zipfile.BadZipFile) as err:
        raise SystemExit(f"ERROR: {err}") from None


if __name__ == "__main__":
    main()
