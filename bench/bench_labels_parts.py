"""Benchmark: where the data half's time goes, part by part, at UTKFace's real count (23,708 images).

On photo-like JPEGs (`bench_data.photo_jpegs`: 200x200 crops of scikit-image's photographs, as UTKFace's
are), each part of the labels and preprocess steps is timed alone on one core, in the order the steps run
them: the folder walk and its fingerprint, name parsing, reading the bytes, hashing them, decoding (with
libjpeg's draft scaling, as `decode.load_image`), resizing, writing the pixel rows, reserving the array,
starting the worker pool and the preprocess gather. Then the two steps as the workflow runs them, on all
cores. Prints each part's milliseconds per image and share, the ideal (the parts that run in the workers
divided over the cores, plus the rest), and against the ceiling (reading, decoding and resizing alone on
every core: what `bench_data.py` measures, worked out here from the parts) the bound that the other parts
set: all of them spread evenly over the cores.

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
from bench_data import ours, photo_jpegs, started  # noqa: E402
from PIL import Image  # noqa: E402

from workflow_scripts import decode, folders  # noqa: E402
from workflow_scripts.labels import parse_name  # noqa: E402

# the parts the worker processes run (per image); the others run once, in the step's own process
IN_WORKERS = ("read the bytes", "hash (sha1)", "decode (draft)", "resize", "write the row")
ORDER = ("folder walk", "fingerprint", "parse names", "reserve the array", *IN_WORKERS, "start the pool",
         "preprocess gather")  # fmt: skip


def parts(folder: Path, tmp: Path, size: int, workers: int, sample: int) -> dict[str, float]:
    """Seconds of each part for every image in `folder`, one core. The per-image parts are timed image by
    image, as a worker runs them, on `sample` images spread over the folder and scaled to all: holding
    every decoded image at once, as a part-at-a-time loop would, measures the memory instead."""
    t: dict[str, float] = {}

    def clock(name: str, fn):
        t0 = time.perf_counter()
        out = fn()
        t[name] = time.perf_counter() - t0
        return out

    files, _ = clock("folder walk", lambda: folders.scan(folder))
    clock("fingerprint", lambda: folders.fingerprint(folder))
    clock("parse names", lambda: [parse_name(Path(f).name) for f in files])
    n = len(files)
    out = tmp / "rows.npy"
    clock("reserve the array", lambda: decode.allocate(out, (n, size, size, 3)))
    each = dict.fromkeys(IN_WORKERS, 0.0)
    picked = range(0, n, max(1, n // sample))
    with decode.row_writer(out) as put:
        for i in picked:
            t0 = time.perf_counter()
            blob = (folder / files[i]).read_bytes()
            t1 = time.perf_counter()
            hashlib.sha1(blob).hexdigest()
            t2 = time.perf_counter()
            try:
                im = Image.open(io.BytesIO(blob))
                im.draft("RGB", (size, size))
                im.load()
            except OSError:  # the truncated quirk
                continue
            t3 = time.perf_counter()
            row = decode.to_model_input(im, size)
            t4 = time.perf_counter()
            put(i, row)
            t5 = time.perf_counter()
            for name, dt in zip(IN_WORKERS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                each[name] += dt
    t.update({name: s * n / len(picked) for name, s in each.items()})

    def pool():
        with ProcessPoolExecutor(max_workers=workers) as p:
            list(p.map(started, range(workers)))

    clock("start the pool", pool)
    order = np.random.default_rng(0).permutation(n)  # a split's rows, in the split's order
    clock("preprocess gather", lambda: decode.gather(np.load(out, mmap_mode="r"), order, tmp / "split.npy"))
    (tmp / "split.npy").unlink()
    out.unlink()
    return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=23_708)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--sample", type=int, default=3000, help="images the per-image parts are timed on")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ms = photo_jpegs(tmp / "img", a.images)
        n = a.images
        print(f"# {n:,} photo JPEGs of 200x200 (full decode {ms:.3f} ms each), {a.image_size} px, warm cache")
        t = parts(tmp / "img", tmp, a.image_size, a.workers, a.sample)
        lab, pre, kept = ours(tmp / "img", a.image_size, a.workers, tmp, "bilinear")
    total = sum(t.values())
    print(f"{'part (one core)':<20} {'ms/image':>9} {'share':>6}  where")
    for name, s in sorted(t.items(), key=lambda kv: ORDER.index(kv[0])):
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
    # the ceiling counts what bench_data's does: a worker opening, decoding and resizing each file; no
    # schedule beats every part spread evenly over the cores, so that bound says how much of it is there
    ceiling = n * a.workers / (t["read the bytes"] + t["decode (draft)"] + t["resize"])
    bound = n * a.workers / total
    print(
        f"ceiling (read, decode and resize only, on {a.workers} cores): {ceiling:,.0f} img/s; every part "
        f"spread evenly over them: {bound:,.0f} img/s ({100 * bound / ceiling:.0f}% of the ceiling); "
        f"the steps: {100 * kept / steps / ceiling:.0f}% of the ceiling"
    )


if __name__ == "__main__":
    main()
