"""Small helpers shared by every step: logging to the rule's log and atomic writes."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def setup_logging(level: int = logging.INFO) -> logging.Logger:
    """Log to stderr, which the rules redirect into `logs/`."""
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    return logging.getLogger("utkface")


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `dest`; rename it onto `dest` only if the block succeeds.

    A reader never sees a half-written file, and a failure leaves any earlier `dest` untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A killed writer leaves its temporary file behind; the next writer of `dest` removes it (Snakemake's
    # lock on the output means no other writer of `dest` runs at the same time).
    for stale in dest.parent.glob(f".{glob.escape(dest.name)}.*{glob.escape(suffix or '.tmp')}"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix or ".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from other users
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `dest`; it replaces `dest` only if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the folder from other users
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def json_object(text: str, flag: str) -> dict[str, Any]:
    """A flag's value (JSON, or `@FILE` holding it) as a JSON object; a ValueError naming `flag` if not."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as err:
            raise ValueError(f"{flag} {text}: {err.strerror or err}") from None
    try:
        obj = json.loads(text)
    except ValueError as err:
        raise ValueError(f"{flag}: not JSON ({err})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{flag}: not a JSON object")
    return obj


def one_path(value: Any, what: str) -> str:
    """A path given as a string or as a list of one (how a rule hands over a one-file input)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what}: one path, not {value!r}")
    return value


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path, ".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays show up in metrics
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# What a command that writes a whole folder (`utkface export --out`, `utkface predict --annotate`) leaves in
# it: who wrote it and every entry it wrote. A later run replaces the folder only when this says it is
# theirs and lists everything the folder now holds, so nobody else's file is ever deleted.
MANIFEST = ".utkface-output.json"


def _entries(folder: Path) -> set[str]:
    """Relative POSIX paths of everything under `folder` (links not followed), the manifest excepted."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            found.add(Path(dirpath, name).relative_to(folder).as_posix())
    return found - {MANIFEST}


def _nearest_existing(path: Path) -> Path:
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_writable(path: str | os.PathLike, what: str) -> None:
    """Raise ValueError (naming `what`, e.g. '--out x.csv') unless a file or folder can be made at `path`:
    its nearest existing parent is a folder in which a file can really be created (a probe, not
    permission bits, which say nothing for root or a read-only mount)."""
    parent = _nearest_existing(Path(path).absolute().parent)
    if not parent.is_dir():
        raise ValueError(f"{what}: {parent} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".utkface-probe.", dir=parent)
    except OSError as err:
        raise ValueError(f"{what}: cannot write in {parent} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(probe)


def check_replaceable(dest: str | os.PathLike, what: str, writer: str, force: bool) -> None:
    """Raise ValueError (naming `what`) unless `writer` (e.g. 'utkface export') may put a folder at
    `dest`: nothing there, an empty folder, or, with `force`, a folder that an earlier run of `writer`
    wrote and that holds nothing else. Never the current folder or one holding it."""
    dest = Path(dest)
    here = Path.cwd().resolve()
    if dest.resolve() == here or dest.resolve() in here.parents:
        raise ValueError(f"{what}: is the current folder or holds it; give a new folder's name")
    check_writable(dest, what)
    if not os.path.lexists(dest):
        return
    if dest.is_symlink() or not dest.is_dir():
        raise ValueError(f"{what}: exists and is not a folder (a file or a link); give a new folder's name")
    entries = _entries(dest)
    if not entries and not (dest / MANIFEST).exists():
        return
    try:
        manifest = json.loads((dest / MANIFEST).read_text())
        ours = set(manifest["files"]) if manifest.get("written_by") == writer else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        ours = None
    if ours is None:
        raise ValueError(
            f"{what}: a folder that is not empty and was not written by `{writer}`: refusing to replace "
            "it (give a new or an empty folder)"
        )
    if entries - ours:
        extra = sorted(entries - ours)
        names = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
        raise ValueError(
            f"{what}: holds files that `{writer}` did not write ({names}): refusing to replace it, even "
            "with --force (move them out, or give another folder)"
        )
    if not force:
        raise ValueError(f"{what}: holds an earlier output of `{writer}`; give --force to replace it")


@contextlib.contextmanager
def owned_dir(dest: str | os.PathLike, what: str, writer: str, force: bool) -> Iterator[Path]:
    """Yield a fresh folder beside `dest`; when the block succeeds, list its entries in MANIFEST and put
    it in place of `dest`, which `check_replaceable` must allow (checked again at the end: the block may
    run for minutes). On failure `dest` is left as it was."""
    dest = Path(dest)
    check_replaceable(dest, what, writer, force)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    old = None
    try:
        yield tmp
        manifest = {"written_by": writer, "files": sorted(_entries(tmp))}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would hide results from other users
        check_replaceable(dest, what, writer, force)
        if dest.is_dir():  # empty, or ours: moved aside first, so that a failed rename loses nothing
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.replace(dest, old)
        try:
            os.replace(tmp, dest)
        except OSError:
            if old is not None:
                os.replace(old, dest)
                old = None
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
