"""Safe extraction of the dataset archive (.tar.gz, .tgz, .tar, .zip).

Members with absolute paths, `..`, links or device files are refused: the whole extraction fails and
names the member, rather than skipping it silently. The files' total size and the member count are
bounded (config keys `dataset.extract_max_gb`, `dataset.extract_max_members`), checked while extracting:
a small archive can otherwise fill the disk, and the MD5 that would catch it can be switched off.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import shutil
import stat
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

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


class ArchiveLimitError(ArchiveError):
    """Extracting would pass a bound on the total size or the member count (an archive bomb, or the
    wrong archive); the message names the config key of the bound."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one extraction may write: the files' total bytes and the members (folders too)."""

    max_bytes: int
    max_members: int


class _Budget:
    """Counts members and bytes against `limits`, raising as soon as one is passed."""

    def __init__(self, archive: Path, limits: Limits) -> None:
        self.archive, self.limits = archive, limits
        self.members = self.bytes = 0

    def member(self, name: str) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveLimitError(
                f"{self.archive}: more than {self.limits.max_members:,} members (at {name!r}); UTKFace has "
                "about 23,708: replace the archive, or raise config key `dataset.extract_max_members`"
            )

    def add(self, name: str, n: int) -> None:
        self.fits(name, n)
        self.bytes += n

    def fits(self, name: str, n: int) -> None:
        """Raise if `n` more bytes would pass the bound."""
        if self.bytes + n > self.limits.max_bytes:
            raise ArchiveLimitError(
                f"{self.archive}: the extracted files pass {self.limits.max_bytes / 1e9:g} GB "
                f"(at {name!r}); UTKFace takes about 0.4 GB: replace the archive, or raise config key "
                "`dataset.extract_max_gb`"
            )


def _extract_tar(archive: Path, out: Path, budget: _Budget) -> int:
    n = 0

    def checked(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
        # Read member by member, as extractall consumes them: the bounds stop the extraction before a
        # member that passes them is written, not after the whole stream was decompressed.
        nonlocal n
        for m in tar:
            _check_name(archive, m.name)
            if m.issym() or m.islnk():
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a link")
            if not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device, FIFO or special file")
            budget.member(m.name)
            if m.isfile():
                budget.add(m.name, m.size)  # declared; tarfile writes exactly that many bytes
                n += 1
            yield m

    with tarfile.open(archive) as tar:  # any compression, read from the content
        # The 'data' filter is a second line of defence (and drops setuid bits and odd permissions).
        tar.extractall(out, members=checked(tar), filter="data")
    return n


def _copy(src: IO[bytes], dst: IO[bytes], name: str, budget: _Budget) -> None:
    """Copy counting the bytes really written: a zip's declared size is only a claim."""
    while chunk := src.read(1 << 20):
        budget.add(name, len(chunk))
        dst.write(chunk)


def _extract_zip(archive: Path, out: Path, budget: _Budget) -> int:
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
            budget.member(info.filename)
            target = (out / info.filename).resolve()
            if root != target and root not in target.parents:
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} leads outside the output")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            # the declared size first, so that a member that would pass the bound is never begun
            budget.fits(info.filename, info.file_size)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                _copy(src, dst, info.filename, budget)
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
    limits: Limits | None = None,
) -> int:
    """Extract `archive` into the folder `out` (replaced only on success). Returns the file count. The
    format is read from the content (a zip renamed .tar.gz works); `key` is the config key named in errors.
    `limits` bounds the files' total size and the member count (None: unbounded, for trusted archives;
    the workflow always passes the config's `dataset.extract_max_*`)."""
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
    budget = _Budget(archive, limits or Limits(max_bytes=sys.maxsize, max_members=sys.maxsize))
    try:
        try:
            if zipfile.is_zipfile(archive):
                n = _extract_zip(archive, tmp, budget)
            elif tarfile.is_tarfile(archive):
                n = _extract_tar(archive, tmp, budget)
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
    p.add_argument("--max-gb", type=float, required=True, help="bound on the extracted files' total size")
    p.add_argument("--max-members", type=int, required=True, help="bound on the archive's members")
    a = p.parse_args(argv)
    setup_logging()
    limits = Limits(max_bytes=int(a.max_gb * 1e9), max_members=a.max_members)
    try:
        extract(a.archive, a.out, a.md5 or None, a.key, limits)
    except (UnsafeArchiveError, ArchiveError, ValueError, FileNotFoundError) as err:
        raise SystemExit(f"ERROR: {err}") from None


if __name__ == "__main__":
    run(main)
