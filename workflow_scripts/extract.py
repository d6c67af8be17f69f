"""Safe extraction of the dataset archive (.tar.gz, .tgz, .tar, .zip).

Members with absolute paths, `..`, links or device files are refused: the whole extraction fails and
names the member, rather than skipping it silently.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .fileio import md5sum, setup_logging
from .step import run

log = logging.getLogger("utkface.extract")


class ArchiveError(ValueError):
    """The archive cannot be read (cut short, not an archive, empty); the message names it and its key."""


class UnsafeArchiveError(ValueError):
    """The archive holds a member that could escape the output folder or is not a regular file."""


def _check_name(archive: Path, name: str) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    if ".." in p.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} leads outside the output folder ('..')")


def _extract_tar(archive: Path, out: Path) -> int:
    with tarfile.open(archive) as tar:  # any compression, read from the content
        members = tar.getmembers()
        for m in members:
            _check_name(archive, m.name)
            if m.issym() or m.islnk():
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a link")
            if not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device, FIFO or special file")
        # The 'data' filter is a second line of defence (and drops setuid bits and odd permissions).
        tar.extractall(out, filter="data")
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


def _damaged(archive: Path, err: BaseException, key: str) -> ArchiveError:
    return ArchiveError(
        f"{archive}: damaged or not an archive ({type(err).__name__}: {err}); replace the file "
        f"(config key `{key}`)"
    )


def extract(
    archive: str | os.PathLike,
    out: str | os.PathLike,
    md5: str | None = None,
    key: str = "dataset.local_archive",
) -> int:
    """Extract `archive` into the folder `out` (replaced only on success). Returns the file count. The
    format is read from the content (a zip renamed .tar.gz works); `key` is the config key named in errors."""
    archive, out = Path(archive), Path(out)
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: archive not found (config key `{key}`)")
    if md5:
        got = md5sum(archive)
        if got != md5.lower():
            raise ValueError(f"{archive}: MD5 is {got}, expected {md5} (config key `dataset.md5`)")
    # Extract beside the output and rename at the end: a failed extraction leaves no half-filled folder.
    tmp = out.with_name(out.name + ".extracting")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        try:
            if zipfile.is_zipfile(archive):
                n = _extract_zip(archive, tmp)
            elif tarfile.is_tarfile(archive):
                n = _extract_tar(archive, tmp)
            else:
                raise ArchiveError(
                    f"{archive}: not a .tar.gz, .tgz, .tar or .zip archive, or cut short; replace the file "
                    f"(config key `{key}`)"
                )
        except (tarfile.TarError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError, zlib.error) as err:
            raise _damaged(archive, err, key) from err
        if n == 0:
            raise ArchiveError(f"{archive}: the archive holds no files (config key `{key}`)")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("extracted %d files from %s into %s", n, archive, out)
    return n


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--archive", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--md5")
    p.add_argument("--key", default="dataset.local_archive", help="the config key that names the archive")
    a = p.parse_args(argv)
    setup_logging()
    try:
        extract(a.archive, a.out, a.md5 or None, a.key)
    except (UnsafeArchiveError, ArchiveError, ValueError, FileNotFoundError) as err:
        raise SystemExit(f"ERROR: {err}") from None


if __name__ == "__main__":
    run(main)
