"""Benchmark: training throughput (images/s) of Models A and B at 128 px.

Ours: the workflow's tf.data pipeline (uint8 memory-mapped arrays, seeded shuffle, batches cast on the fly,
prefetch) into `model.fit`. Baseline: a plain `model.fit` on in-memory float32 NumPy arrays. Same model, same
batch size, same run; one warm-up epoch, then the timed ones. Prints both and the ratio (target >= 1).
CPU settings (threads, determinism, XLA, layout) are compared by `bench_cpu_training.py`.

`--rates-out FILE` writes ours as seconds per training image and epoch (Model B unfrozen, its slower
phase) with the CPU: `bench/train_rates.json` is what a claims grid's dry run projects its cost from
before any training of this machine has a benchmark file.

    python bench/bench_train.py [--images 512] [--epochs 2] [--models A B] [--rates-out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
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
from workflow_scripts.settings import for_training  # noqa: E402
from workflow_scripts.tfsetup import cpu_name  # noqa: E402


def build(model: str, cfg: dict, size: int, unfrozen: bool = False) -> keras.Model:
    keras.utils.set_random_seed(0)
    run = for_training(cfg, model)
    if model == "A":
        net = models.build_model_a(size, run.model, run.augmentation, 0)
        opt = keras.optimizers.Adam(1e-3)
    else:
        net = models.build_model_b(size, run.model, run.augmentation, 0)
        opt = keras.optimizers.RMSprop(1e-3)
        if unfrozen:  # block4 and block5 open, AdamW: the phase most of B's epochs are in
            models.unfreeze(net, run.model.unfreeze_layers)
            opt = keras.optimizers.AdamW(run.model.learning_rate, weight_decay=run.model.weight_decay)
    models.compile_model(net, opt, run.model)
    return net


def write_rates(path: str, rates: dict[str, float], size: int, batch: int) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    facts = {
        "cpu": f"{cpu_name()}, {os.cpu_count()} cores",
        "date": dt.date.today().isoformat(),
        "commit": commit.stdout.strip(),
        "image_size": size,
        "batch": batch,
        "seconds_per_image_epoch": {m: 1 / r for m, r in rates.items()},
    }
    Path(path).write_text(json.dumps(facts, indent=1) + "\n")
    print(f"rates written to {path}")


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
    p.add_argument("--rates-out", help="also write our rates (B unfrozen) here, as seconds per image-epoch")
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
        rates = {}
        for m in a.models:
            ours = timed_fit(build(m, cfg, a.size), a.epochs, n, x=train_ds)
            plain = timed_fit(build(m, cfg, a.size), a.epochs, n, x=x, y=y, batch_size=a.batch, shuffle=True)
            print(f"{m:>5} {ours:>11.1f} {plain:>16.1f} {ours / plain:>6.2f}", flush=True)
            rates[m] = ours
        if a.rates_out:
            if "B" in rates:  # B's epochs are mostly unfrozen ones, which cost more than the frozen ones
                rates["B"] = timed_fit(build("B", cfg, a.size, unfrozen=True), a.epochs, n, x=train_ds)
                print(f"    B unfrozen, ours: {rates['B']:.1f} img/s")
            write_rates(a.rates_out, rates, a.size, a.batch)


if __name__ == "__main__":
    main()
