"""Benchmark: training throughput (images/s) of Models A and B at 128 px.

Ours: the workflow's tf.data pipeline (uint8 memory-mapped arrays, seeded shuffle, batches cast on the fly,
prefetch) into `model.fit`. Baseline: a plain `model.fit` on in-memory float32 NumPy arrays. Same model, same
batch size, same run; one warm-up epoch, then the timed ones. Prints both and the ratio (target >= 1).
CPU settings (threads, determinism, XLA, layout) are compared by `bench_cpu_training.py`.

    python bench/bench_train.py [--images 512] [--epochs 2] [--models A B]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workflow_scripts.tfsetup import configure_tensorflow  # noqa: E402

configure_tensorflow()
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import full_config  # noqa: E402

from workflow_scripts import models  # noqa: E402
from workflow_scripts.datasets import make_datasets  # noqa: E402
from workflow_scripts.settings import LossWeights, for_training  # noqa: E402


def build(model: str, cfg: dict, size: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    run = for_training(cfg, model)
    if model == "A":
        net = models.build_model_a(size, run.model, run.augmentation, 0)
        opt = keras.optimizers.Adam(1e-3)
    else:
        net = models.build_model_b(size, run.model, run.augmentation, 0)
        opt = keras.optimizers.RMSprop(1e-3)
    models.compile_model(net, opt, LossWeights(age=1.0, gender=1.0))
    return net


def timed_fit(net: keras.Model, epochs: int, n: int, **fit) -> float:
    net.fit(epochs=1, verbose=0, **fit)  # warm-up: graph tracing
    t0 = time.perf_counter()
    net.fit(epochs=epochs, verbose=0, **fit)
    return epochs * n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--models", nargs="+", default=["A", "B"])
    a = p.parse_args()
    cfg = full_config()
    rng = np.random.default_rng(0)
    n = a.images - a.images % a.batch
    images = rng.integers(0, 256, (n, a.size, a.size, 3), dtype=np.uint8)
    labels = pd.DataFrame(
        {
            "path": [f"{i}.jpg" for i in range(n)],
            "age": rng.integers(1, 90, n),
            "gender": rng.integers(0, 2, n),
            "race": 0,
            "datetime": "0",
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        arrays, splits = {}, {}
        for s in ("train", "val"):
            np.save(f"{tmp}/{s}.npy", images)
            labels.to_csv(f"{tmp}/{s}.csv", index=False)
            arrays[s], splits[s] = f"{tmp}/{s}.npy", f"{tmp}/{s}.csv"
        train_ds = make_datasets(arrays, splits, a.batch, seed=0).train
        x = images.astype("float32")
        y = {
            "age": labels["age"].to_numpy("float32")[:, None],
            "gender": labels["gender"].to_numpy("float32")[:, None],
        }
        print(f"{'model':>5} {'ours img/s':>11} {'plain fit img/s':>16} {'ratio':>6}")
        for m in a.models:
            ours = timed_fit(build(m, cfg, a.size), a.epochs, n, x=train_ds)
            plain = timed_fit(build(m, cfg, a.size), a.epochs, n, x=x, y=y, batch_size=a.batch, shuffle=True)
            print(f"{m:>5} {ours:>11.1f} {plain:>16.1f} {ours / plain:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
