"""Decode each split's images once into a uint8 array (N, S, S, 3), RGB, memory-mappable `.npy`.

Row i of `<split>_images.npy` is row i of the split's CSV. Training reads only these arrays, never JPEGs.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
from PIL import Image

from .fileio import atomic_path, setup_logging
from .imageio import to_rgb
from .labels import read_labels
from .step import run

log = logging.getLogger("utkface.preprocess")

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


def load_image(path: str | os.PathLike, size: int, interpolation: str = "bilinear") -> np.ndarray:
    """One image file as uint8 (size, size, 3), RGB whatever the source mode (`imageio.to_rgb`)."""
    with Image.open(path) as im:
        # Let libjpeg scale down by 1/2, 1/4 or 1/8 while decoding when that stays >= size.
        im.draft("RGB", (size, size))
        return to_model_input(im, size, interpolation)


def _fill(job: tuple[str, str, list[tuple[int, str]], int, str]) -> int:
    out, root, items, size, interpolation = job
    arr = np.load(out, mmap_mode="r+")
    for i, rel in items:
        try:
            arr[i] = load_image(Path(root, rel), size, interpolation)
        except Exception as err:
            raise RuntimeError(f"{Path(root, rel)}: cannot decode ({err})") from err
    arr.flush()
    return len(items)


class NoSpaceError(RuntimeError):
    """Not enough free disk space for an array; the message gives the bytes needed and free."""


def _allocate(path: Path, shape: tuple[int, ...]) -> None:
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


def preprocess(
    images_root: str | os.PathLike,
    split_csv: str | os.PathLike,
    out: str | os.PathLike,
    size: int,
    interpolation: str = "bilinear",
    workers: int = 1,
) -> int:
    """Write `out` (.npy) for the split; returns the image count. Decodes in `workers` processes."""
    paths = read_labels(split_csv)["path"].tolist()
    n = len(paths)
    with atomic_path(out, ".npy") as tmp:
        _allocate(tmp, (n, size, size, 3))
        items = list(enumerate(paths))
        jobs = [(str(tmp), str(images_root), items[c], size, interpolation) for c in chunks(n, workers)]
        if workers > 1 and len(jobs) > 1:  # one task: no process pool to start
            try:
                with ProcessPoolExecutor(max_workers=workers) as pool:
                    done = sum(pool.map(_fill, jobs))
            except BrokenProcessPool as err:
                raise RuntimeError(
                    f"{out}: a worker process died (killed, or out of memory: try fewer threads)"
                ) from err
        else:
            done = sum(map(_fill, jobs))
        assert done == n
    log.info("%s: %d images at %dx%d", out, n, size, size)
    return n


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--interpolation", default="bilinear", choices=sorted(INTERPOLATION))
    p.add_argument("--workers", type=int, default=1)
    a = p.parse_args(argv)
    setup_logging()
    try:
        preprocess(a.images, a.split, a.out, a.size, a.interpolation, a.workers)
    except RuntimeError as err:
        raise SystemExit(f"ERROR: {err}") from None


if __name__ == "__main__":
    run(main)
