"""Benchmark: labels + preprocessing of N images, against a naive baseline in the same run.

Ours, as the workflow runs them: `labels.build_labels` with `Pixels` (name parsing, hashing, and each image
decoded once, on all cores, into the labelled pixel array) then `preprocess.preprocess` (the split's rows
gathered from it into the split's array; here the split holds every image). Baseline, the fair notebook
way: Keras `load_img(target_size=...)` + `img_to_array(dtype="uint8")`, one image at a time, then one
`np.stack`.
Each runs `--repeat` times (the baseline in a fresh process each time) and the best run of each counts:
on a virtual machine the baseline's first touch of its arrays costs anything from nothing to
0.4 ms an image from one run to the next. Prints images/s of each (best and range), the ratio, the
ceiling and our share of it (best against best), and the split of our time between the two steps. The
ceiling is measured, not multiplied out: the same worker processes doing nothing but open, decode and
resize every image (`decode.load_image`, pool started before the clock), best of `--repeat` runs, each
run next to one of ours so that the two sample the machine's swings alike.

`--images photo` (the default) writes 200x200 JPEGs cut from the photographs shipped in scikit-image's
wheel (crops of 200 px or more, shrunk), at JPEG quality 90-97: their full decode takes about as long as
a real UTKFace image's (~0.2-0.3 ms; the benchmark prints the mean it measured: 0.19-0.20 ms on our CI
machine). `--images synthetic` uses the cartoon faces of the demo, which decode faster than photos.

    python bench/bench_data.py [--sizes 2000 20000] [--workers 1 2] [--repeat 3] [--images photo|synthetic]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workflow_scripts import synthetic  # noqa: E402
from workflow_scripts.decode import chunks, load_image  # noqa: E402
from workflow_scripts.labels import Pixels, build_labels, write_csv  # noqa: E402
from workflow_scripts.preprocess import preprocess  # noqa: E402

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg", "retina.jpg"]


def photo_jpegs(folder: Path, n: int, seed: int = 1) -> float:
    """`n` UTKFace-named 200x200 JPEGs cut from real photographs; returns their mean full-decode ms."""
    import io

    import skimage
    from PIL import Image

    data = Path(skimage.__file__).parent / "data"
    sources = [np.asarray(Image.open(data / name).convert("RGB")) for name in PHOTOS]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    blobs = []
    for i in range(n):
        src = sources[i % len(sources)]
        h, w = src.shape[:2]
        side = int(rng.integers(200, min(h, w)))  # shrunk to 200 px, as a chip cut from a larger photo
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = Image.fromarray(src[y : y + side, x : x + side]).resize((200, 200), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        crop.save(buf, "JPEG", quality=int(rng.integers(90, 98)))
        age, gender, race = rng.integers(1, 100), rng.integers(0, 2), rng.integers(0, 5)
        name = f"{age}_{gender}_{race}_2017010100{i:07d}.jpg.chip.jpg"
        (folder / name).write_bytes(buf.getvalue())
        blobs.append(buf.getvalue())
    t0 = time.perf_counter()
    for blob in blobs[:500]:
        with Image.open(io.BytesIO(blob)) as im:
            im.load()
    return 1000 * (time.perf_counter() - t0) / min(500, n)


def ours(folder: Path, size: int, workers: int, tmp: Path, interpolation: str) -> tuple[float, float, int]:
    """(labels seconds, preprocess seconds, images)."""
    t0 = time.perf_counter()
    pixels = Pixels(tmp / "pixels.npy", size, interpolation)
    labels, _ = build_labels(folder, threads=workers, pixels=pixels)
    write_csv(labels, tmp / "labels.csv")
    t1 = time.perf_counter()
    n = preprocess(tmp / "labels.csv", pixels.out, tmp / "labels.csv", tmp / "all.npy")
    return t1 - t0, time.perf_counter() - t1, n


def baseline(folder: Path, size: int) -> tuple[float, int]:
    from keras.utils import img_to_array, load_img

    files = sorted(folder.glob("*.jpg"))  # UTKFace's names end in .jpg
    t0 = time.perf_counter()
    arrays = []
    for f in files:
        try:
            # each image cast to uint8 as it is read, as a careful notebook does: stacking float32 arrays
            # (3.9 GB at 20,000 images of 128 px) would make the baseline slower than it need be
            arrays.append(img_to_array(load_img(f, target_size=(size, size)), dtype="uint8"))
        except OSError:  # the truncated quirk; the baseline has no reject list
            continue
    np.stack(arrays)
    return time.perf_counter() - t0, len(arrays)


def baseline_in_child(folder: Path, size: int) -> tuple[float, int]:
    """`baseline` in a fresh process, with Keras imported before the clock starts: our process never
    imports TensorFlow, whose memory would make each of our worker processes slower to fork."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, __file__, "--baseline-of", str(folder), "--image-size", str(size)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout.split()
    return float(out[-2]), int(out[-1])


def _decode_only(job: tuple[list[str], int, str]) -> int:
    """How many of the job's images decoded (the time of those that did not counts, as on our side)."""
    paths, size, interpolation = job
    done = 0
    for path in paths:
        try:
            load_image(path, size, interpolation)
        except OSError:
            continue
        done += 1
    return done


def started(worker: int) -> int:
    """A task that only makes a worker process start: map it over the pool before the clock."""
    return worker


def ceiling_run(folder: Path, size: int, interpolation: str, workers: int) -> tuple[int, float]:
    """(images decoded, seconds) of `workers` processes that only open, decode and resize every file (what
    the workers' cores can do if that were all the work): the tasks of `decode.decode_images`, the pool
    started before the clock."""
    files = [str(f) for f in sorted(folder.glob("*.jpg"))]
    jobs = [(files[c], size, interpolation) for c in chunks(len(files), workers)]
    if workers == 1:
        t0 = time.perf_counter()
        done = sum(map(_decode_only, jobs))
        return done, time.perf_counter() - t0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(started, range(workers)))
        t0 = time.perf_counter()
        done = sum(pool.map(_decode_only, jobs))
        return done, time.perf_counter() - t0


def ceiling(folder: Path, size: int, interpolation: str, workers: int) -> float:
    """Images/s of `ceiling_run`."""
    done, seconds = ceiling_run(folder, size, interpolation, workers)
    return done / seconds


def first_touch_us(mb: int = 256) -> float:
    """Microseconds to touch each 4 KiB page of `mb` MB of fresh memory, as the machine is now. A virtual
    machine whose host takes back the memory it frees may pay a fault on the host for each new page; both
    sides here fill about 2 x N x 49 KB of fresh memory (arrays, or page cache for the files) where the
    ceiling fills none."""
    t0 = time.perf_counter()
    np.ones(mb << 20, dtype=np.uint8)
    return (time.perf_counter() - t0) * 1e6 / (mb << 8)


def spread(rates: list[float]) -> str:
    return f"{max(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"


def rows(folder: Path, n: int, tmp: Path, a: argparse.Namespace) -> None:
    """Print one row per resize and worker count for the `n` images in `folder`."""
    base = []
    for _ in range(a.repeat):
        t_base, n_base = baseline_in_child(folder, a.image_size)
        base.append(n_base / t_base)
    # bilinear (antialiased) is the workflow's default; the baseline resizes nearest-neighbour
    for interpolation in ("bilinear", "nearest"):
        for workers in a.workers:
            runs, ceilings = [], []
            for _ in range(a.repeat):
                ceilings.append(ceiling(folder, a.image_size, interpolation, workers))
                runs.append(ours(folder, a.image_size, workers, tmp, interpolation))
            rates = [n_ours / (t_lab + t_pre) for t_lab, t_pre, n_ours in runs]
            t_lab, t_pre, _ = runs[rates.index(max(rates))]
            print(
                f"{n:>7} {interpolation:>9} {workers:>7} {spread(rates):>26} {spread(base):>30} "
                f"{max(rates) / max(base):>6.2f} {spread(ceilings):>26} {max(ceilings) / max(base):>14.2f} "
                f"{100 * max(rates) / max(ceilings):>6.0f}% "
                f"{100 * t_lab / (t_lab + t_pre):>6.0f}% {100 * t_pre / (t_lab + t_pre):>10.0f}%",
                flush=True,
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--workers", type=int, nargs="+", default=[os.cpu_count()], help="one row per count")
    p.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts (default 3)")
    p.add_argument("--images", choices=["photo", "synthetic"], default="photo")
    p.add_argument("--baseline-of", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.baseline_of:
        import keras  # noqa: F401 - import cost kept out of the timings

        print(*baseline(a.baseline_of, a.image_size))
        return

    head = f"{'N':>7} {'resize':>9} {'workers':>7} {'ours img/s, best (range)':>26}"
    head += f" {'baseline img/s, best (range)':>30} {'ratio':>6} {'ceiling img/s, best (range)':>26}"
    print(f"{head} {'ceiling ratio':>14} {'of it':>7} {'labels':>7} {'preprocess':>11}")
    for n in a.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            if a.images == "photo":
                ms = photo_jpegs(tmp / "img", n)
                print(f"# {n} photo JPEGs of 200x200: a full decode takes {ms:.3f} ms each", flush=True)
            else:
                synthetic.generate(tmp / "img", n, seed=1, quirks=True, workers=max(a.workers))
            print(f"# fresh memory, first touch: {first_touch_us():.2f} us a page", flush=True)
            rows(tmp / "img", n, tmp, a)
            print(f"# fresh memory, first touch: {first_touch_us():.2f} us a page", flush=True)


if __name__ == "__main__":
    main()
