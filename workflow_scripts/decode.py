"""Image files into uint8 array files (N, S, S, 3), RGB, memory-mappable `.npy`.

Each image is decoded once, by the label check (`labels --pixels`), which keeps the resized pixels of every
image it accepts; the split arrays are then row gathers of that array (`preprocess`), not second decodes.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import mmap
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import IO, TypeVar

import numpy as np
from PIL import Image, UnidentifiedImageError

from .imageio import UnusableImageError, to_rgb
from .pausepoints import pause_point

T = TypeVar("T")

INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def to_model_input(im: Image.Image, size: int, interpolation: str = "bilinear") -> np.ndarray:
    """An opened image as the models see it: uint8 (size, size, 3) RGB. The one resize of training and
    prediction (`predict` calls it on each aligned face), so that the two cannot drift apart."""
    im = to_rgb(im)
    if im.size != (size, size):
        im = im.resize((size, size), INTERPOLATION[interpolation])
    return np.asarray(im)  # uint8: to_rgb gives an 8-bit RGB image


def load_image(path: str | os.PathLike | IO[bytes], size: int, interpolation: str = "bilinear") -> np.ndarray:
    """One image (a path or an open binary file) as uint8 (size, size, 3), RGB whatever the source mode."""
    with Image.open(path) as im:
        # Let libjpeg scale down by 1/2, 1/4 or 1/8 while decoding when that stays >= size.
        im.draft("RGB", (size, size))
        return to_model_input(im, size, interpolation)


def examine(path: str | os.PathLike, decode: Callable[[IO[bytes]], T]) -> tuple[str, str | None, T | None]:
    """(sha1 of the file's bytes, None, decode(file)) when `decode` succeeds, else (sha1, reason, None);
    an unreadable file gives ("", reason, None). Never raises for one bad file."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        return "", f"unreadable file: {err.strerror or err}", None
    digest = hashlib.sha1(data).hexdigest()
    try:
        return digest, None, decode(io.BytesIO(data))
    except UnusableImageError as err:
        return digest, f"unusable image: {err}", None
    except UnidentifiedImageError:
        # Pillow's own message shows the in-memory buffer's address: a reason must not change between runs
        return digest, "undecodable image: not an image format Pillow can read", None
    except Exception as err:  # noqa: BLE001 - any decoder failure means the same thing here
        return digest, f"undecodable image: {type(err).__name__}: {err}", None


class NoSpaceError(RuntimeError):
    """Not enough free disk space for an array; the message gives the bytes needed and free."""


def allocate(path: Path, shape: tuple[int, ...]) -> None:
    """Create the .npy file with every block reserved on disk, so that a full disk is a clear error now
    rather than a bus error (SIGBUS) when a worker writes into a sparse memory map."""
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    nbytes = os.path.getsize(path)
    del arr
    free = shutil.disk_usage(path.parent).free
    try:
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, nbytes)
        finally:
            os.close(fd)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise NoSpaceError(
            f"{path.parent}: no space left for the array: it needs {nbytes / 1e6:,.1f} MB, "
            f"{free / 1e6:,.1f} MB are free"
        ) from None


def chunks(n: int, workers: int) -> list[slice]:
    """The rows of each task: about four tasks a worker (so a slow one is not waited for alone), but at
    least 64 rows a task (so that starting a task costs little next to decoding it)."""
    size = max(64, -(-n // (4 * max(1, workers))))
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def _data_offset(path: str | os.PathLike) -> int:
    """Where the rows of the .npy file at `path` start (the header's length)."""
    return np.load(path, mmap_mode="r").offset


@contextlib.contextmanager
def row_writer(out: str | os.PathLike) -> Iterator[Callable[[int, np.ndarray], None]]:
    """Yield put(i, pixels), which writes row i of the .npy file `out` (made by `allocate`). Plain writes at
    the row's offset, not a memory map: a first write to each page of a new file through a map costs a
    page fault, and measured 4x slower for a gather, 10-30% for decoding."""
    arr = np.load(out, mmap_mode="r")
    offset, row = arr.offset, int(np.prod(arr.shape[1:]))
    del arr
    fd = os.open(out, os.O_WRONLY)

    def put(i: int, pixels: np.ndarray) -> None:
        data = np.ascontiguousarray(pixels, dtype=np.uint8)
        if data.nbytes != row or os.pwrite(fd, data, offset + i * row) != row:
            raise OSError(f"{out}: row {i} not written whole")

    try:
        yield put
    finally:
        os.close(fd)


def _decode_rows(job: tuple[str, int, list[str], int, str]) -> list[tuple[str, str | None]]:
    out, start, paths, size, interpolation = job
    decode = functools.partial(load_image, size=size, interpolation=interpolation)
    results = []
    with row_writer(out) as put:
        for k, path in enumerate(paths):
            digest, reason, pixels = examine(path, decode)
            if pixels is not None:
                put(start + k, pixels)
            results.append((digest, reason))
            pause_point("decode-row")
    return results


def decode_images(
    paths: list[Path], out: str | os.PathLike, size: int, interpolation: str = "bilinear", workers: int = 1
) -> list[tuple[str, str | None]]:
    """Write row i of `out` (.npy, created here) from paths[i]; return each file's (sha1, reason), reason
    None when it decoded. A file that does not decode leaves its row zero. Runs in `workers` processes."""
    n = len(paths)
    allocate(Path(out), (n, size, size, 3))
    jobs = [(str(out), c.start, list(map(str, paths[c])), size, interpolation) for c in chunks(n, workers)]
    if workers > 1 and len(jobs) > 1:  # one task: no process pool to start
        # processes, not threads: Pillow's decoding and resizing overlap poorly under the GIL
        try:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                return [r for part in pool.map(_decode_rows, jobs) for r in part]
        except BrokenProcessPool as err:
            raise RuntimeError(
                f"{out}: a worker process died (killed, or out of memory: try fewer threads)"
            ) from err
    return [r for job in jobs for r in _decode_rows(job)]


def _runs(rows: np.ndarray) -> Iterator[tuple[int, int, int]]:
    """(first output row, first source row, length) of each stretch where the source rows follow on."""
    if not len(rows):
        return
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts, ends = np.r_[0, breaks], np.r_[breaks, len(rows)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        yield a, int(rows[a]), b - a


def _copy_in_kernel(src: np.memmap, rows: np.ndarray, out: str | os.PathLike) -> bool:
    """Copy the rows from file to file with copy_file_range (no pass through our memory; shared blocks where
    the file system has reflinks): 20 vs 35 ms for 2,000 rows of 128 px. False, having written nothing
    that the caller keeps, when this system or file system cannot."""
    if not hasattr(os, "copy_file_range"):
        return False
    row = int(np.prod(src.shape[1:]))
    start = _data_offset(out)
    fin, fout = os.open(src.filename, os.O_RDONLY), os.open(out, os.O_WRONLY)
    try:
        for dst, first, length in _runs(rows):
            todo, at_src, at_dst = length * row, src.offset + first * row, start + dst * row
            while todo:
                done = os.copy_file_range(fin, fout, todo, at_src, at_dst)
                if done == 0:
                    raise OSError(f"{src.filename}: ended before row {first + length - 1}")
                todo, at_src, at_dst = todo - done, at_src + done, at_dst + done
    except OSError as err:
        if err.errno in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            return False
        raise
    finally:
        os.close(fin)
        os.close(fout)
    return True


def gather(src: np.ndarray, rows: np.ndarray, out: str | os.PathLike, block: int = 256) -> None:
    """Write `src[rows]` to `out` (.npy, created here) without holding it in memory: file to file in the
    kernel when `src` is a memory-mapped .npy, else read in sorted order, one block at a time, so that a
    memory-mapped `src` is read in one forward pass."""
    rows = np.asarray(rows, dtype=np.int64)
    allocate(Path(out), (len(rows), *src.shape[1:]))
    # a slice of a memory map keeps the map's offset, not where its own rows start: only whole maps
    whole_map = isinstance(src, np.memmap) and isinstance(src.base, mmap.mmap) and src.flags.c_contiguous
    if whole_map and _copy_in_kernel(src, rows, out):
        return
    order = np.argsort(rows, kind="stable")
    with row_writer(out) as put:
        for s in range(0, len(order), block):
            sel = order[s : s + block]
            for j, pixels in zip(sel, src[rows[sel]], strict=True):
                put(int(j), pixels)


def keep_rows(path: str | os.PathLike, rows: np.ndarray) -> None:
    """Reduce the .npy file at `path` to its rows `rows` (strictly increasing), in place: each kept row
    moves up over the dropped ones, then the header's shape and the file's length follow. Cheaper than a
    gather into a new file when few rows go: the pages are already there."""
    arr = np.load(path, mmap_mode="r+")
    rows = np.asarray(rows, dtype=np.int64)
    if (np.diff(rows) <= 0).any() or (len(rows) and not 0 <= rows[0] <= rows[-1] < len(arr)):
        raise ValueError(f"{path}: rows to keep must be increasing row numbers below {len(arr)}")
    for j, i in enumerate(rows):
        if i != j:
            arr[j] = arr[i]
    # No flush: the map shares the page cache with the writes below and every later read; a flush
    # (msync) would only force the whole array out to disk (37 ms of a 0.6 s run at 2,000 images).
    shape, offset = (len(rows), *arr.shape[1:]), arr.offset
    del arr
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    # numpy pads the header so the first dimension can grow to 21 digits: a shorter count fits in place
    assert len(header.getvalue()) == offset, "the .npy header changed length"
    with open(path, "r+b") as f:
        f.write(header.getvalue())
        f.truncate(offset + int(np.prod(shape)))
