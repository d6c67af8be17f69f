"""Benchmark: where the data half's time goes, part by part, at UTKFace's real count (23,708 images).

On photo-like JPEGs (`bench_data.photo_jpegs`: 200x200 crops of scikit-image's photographs, as UTKFace's
are), each part of the labels and preprocess steps is timed alone on one core, in the order the steps run
them: the folder walk and its fingerprint, name parsing, reading the bytes, hashing them, decoding (with
libjpeg's draft scaling, as `decode.load_image`), resizing, writing the pixel rows, reserving the array,
starting the worker pool and the preprocess gather. Then the two steps as the workflow runs them, on all
cores. Prints each part's milliseconds per image and share, and the ideal: the parts that run in the
workers divided over the cores, plus the rest.

    python bench/bench_labels_parts.py [--images 23708] [--image-size 128] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_data import ours, photo_jpegs  # noqa: E402
from PIL import Image  # noqa: E402

from workflow_scripts import decode, folders  # noqa: E402
from workflow_scripts.labels import parse_name  # noqa: E402

# the parts the worker processes run (per image); the others run once, in the step's own process
IN_WORKERS = ("read the bytes", "hash (sha1)", "decode (draft)", "resize", "write the row")


def _noop(x: int) -> int:
    return x


def parts(folder: Path, tmp: Path, size: int, workers: int) -> dict[str, float]:
    """Seconds of each part for every image in `folder`, one core."""
    t: dict[str, float] = {}

    def clock(name: str, fn):
        t0 = time.perf_counter()
        out = fn()
        t[name] = time.perf_counter() - t0
        return out

    files, _ = clock("folder walk", lambda: folders.scan(folder))
    clock("fingerprint", lambda: folders.fingerprint(folder))
    clock("parse names", lambda: [parse_name(Path(f).name) for f in files])
    paths = [folder / f for f in files]
    blobs = clock("read the bytes", lambda: [p.read_bytes() for p in paths])
    clock("hash (sha1)", lambda: [hashlib.sha1(b).hexdigest() for b in blobs])

    def decoded():
        out = []
        for b in blobs:
            try:
                im = Image.open(io.BytesIO(b))
                im.draft("RGB", (size, size))
                im.load()
                out.append(im)
            except OSError:  # the truncated quirk
                continue
        return out

    images = clock("decode (draft)", decoded)
    rows = clock("resize", lambda: [decode.to_model_input(im, size) for im in images])
    out = tmp / "rows.npy"
    clock("reserve the array", lambda: decode.allocate(out, (len(rows), size, size, 3)))

    def write():
        with decode.row_writer(out) as put:
            for i, r in enumerate(rows):
                put(i, r)

    clock("write the row", write)

    def pool():
        with ProcessPoolExecutor(max_workers=workers) as p:
            list(p.map(_noop, range(workers)))

    clock("start the pool", pool)
    order = np.random.default_rng(0).permutation(len(rows))  # a split's rows, in the split's order
    clock("preprocess gather", lambda: decode.gather(np.load(out, mmap_mode="r"), order, tmp / "split.npy"))
    return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=23_708)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ms = photo_jpegs(tmp / "img", a.images)
        n = a.images
        print(f"# {n:,} photo JPEGs of 200x200 (full decode {ms:.3f} ms each), {a.image_size} px, warm cache")
        t = parts(tmp / "img", tmp, a.image_size, a.workers)
        lab, pre, kept = ours(tmp / "img", a.image_size, a.workers, tmp, "bilinear")
    total = sum(t.values())
    print(f"{'part (one core)':<20} {'ms/image':>9} {'share':>6}  where")
    for name, s in t.items():
        where = "workers" if name in IN_WORKERS else "step"
        print(f"{name:<20} {1000 * s / n:>9.4f} {100 * s / total:>5.1f}%  {where}")
    parallel = sum(t[k] for k in IN_WORKERS)
    ideal = parallel / a.workers + (total - parallel)
    print(f"{'sum, one core':<20} {1000 * total / n:>9.4f}")
    steps = lab + pre
    print(f"ideal on {a.workers} workers: {ideal:.2f} s ({n / ideal:,.0f} img/s)")
    print(
        f"the steps as the workflow runs them: labels {lab:.2f} s + preprocess {pre:.2f} s = {steps:.2f} s "
        f"({kept / steps:,.0f} img/s, {100 * ideal / steps:.0f}% of the ideal)"
    )


if __name__ == "__main__":
    main()
