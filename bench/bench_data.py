"""Benchmark: labels + preprocessing of N synthetic images, against a naive baseline in the same run.

Ours: `labels.build_labels` (name parsing, hashing, decode check) then `preprocess.preprocess` into one
uint8 array, both on all cores. Baseline: Keras `load_img` + `img_to_array`, one image at a time.
Prints images/s of each and the ratio (target: ours >= 3x the baseline, and linear in N).

    python bench/bench_data.py [--sizes 2000 20000] [--image-size 128]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workflow_scripts import synthetic  # noqa: E402
from workflow_scripts.labels import build_labels, write_csv  # noqa: E402
from workflow_scripts.preprocess import preprocess  # noqa: E402


def ours(folder: Path, size: int, workers: int, tmp: Path, interpolation: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    labels, _ = build_labels(folder, threads=workers)
    write_csv(labels, tmp / "all.csv")
    n = preprocess(folder, tmp / "all.csv", tmp / "all.npy", size, interpolation, workers=workers)
    return time.perf_counter() - t0, n


def baseline(folder: Path, size: int) -> tuple[float, int]:
    from keras.utils import img_to_array, load_img

    files = sorted(folder.glob("*.jpg"))
    t0 = time.perf_counter()
    arrays = []
    for f in files:
        try:
            arrays.append(img_to_array(load_img(f, target_size=(size, size))))
        except OSError:  # the truncated quirk; the baseline has no reject list
            continue
    np.stack(arrays)
    return time.perf_counter() - t0, len(arrays)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    a = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras  # noqa: F401 - import cost kept out of the timings

    head = f"{'N':>7} {'resize':>9} {'ours img/s':>11} {'baseline img/s':>15} {'ratio':>6}"
    print(f"{head} {'ours s/1k img':>14}")
    for n in a.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            synthetic.generate(tmp / "img", n, seed=1, quirks=True, workers=a.workers)
            t_base, n_base = baseline(tmp / "img", a.image_size)
            # bilinear (antialiased) is the workflow's default; the baseline resizes nearest-neighbour
            for interpolation in ("bilinear", "nearest"):
                t_ours, n_ours = ours(tmp / "img", a.image_size, a.workers, tmp, interpolation)
                print(
                    f"{n:>7} {interpolation:>9} {n_ours / t_ours:>11.0f} {n_base / t_base:>15.0f} "
                    f"{(n_ours / t_ours) / (n_base / t_base):>6.2f} {1000 * t_ours / n_ours:>14.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
