"""Benchmark: CPU training settings of Models A and B, side by side in one run (images/s of `model.fit`).

Each setting runs in a fresh process (TensorFlow's thread counts and determinism are fixed at start-up),
through the workflow's own pieces: `train._runtime`-like set-up, the model builders, `compile_model`, and
the tf.data pipeline of `datasets.make_datasets`. One warm-up epoch (tracing, XLA compilation), then the
timed epochs. The baseline is the workflow's setting before this benchmark ("before": deterministic ops,
2 intra-op and 2 inter-op threads, Keras' `jit_compile="auto"`, which Keras turns off under op
determinism). Every setting runs twice, in two processes: the rate printed is their mean, and for the
deterministic ones the two final models are compared bit for bit.

    python bench/bench_cpu_training.py [--images 384] [--epochs 2] [--models A B]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (deterministic, jit_compile, intra-op threads, inter-op threads, oneDNN on)
SETTINGS = {
    "before: deterministic, 2 ops at once": (True, "auto", 2, 2, True),
    "now: deterministic, 1 op at a time": (True, "auto", 2, 1, True),
    "deterministic, 1 thread": (True, "auto", 1, 1, True),
    "deterministic, oneDNN off (Eigen kernels)": (True, "auto", 2, 2, False),
    "not deterministic": (False, "auto", 2, 2, True),
    "not deterministic, XLA on": (False, True, 2, 2, True),
    "not deterministic, XLA on, augmentation in tf.data": (False, True, 2, 2, True),
}
# Keras' jit_compile="auto" is XLA off on a machine without GPU, and Keras turns XLA off whenever op
# determinism is on or a layer cannot be compiled (`model_supports_jit`): the random rotation, zoom,
# translation and shear layers cannot. XLA then needs the augmentation moved out of the model, into tf.data.
AUG_IN_DATA = "augmentation in tf.data"
CHANNELS_FIRST = "channels-first layout"


def one(model: str, setting: str, images: int, epochs: int, size: int, batch: int) -> dict:
    """Train `model` under `setting` in this process; returns img/s and a digest of the final weights."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    from workflow_scripts.tfsetup import configure_tensorflow

    det, jit, intra, inter, onednn = SETTINGS.get(setting, (True, "auto", 2, 1, True))
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn else "0"
    configure_tensorflow(intra)
    import keras
    import numpy as np
    import pandas as pd
    import tensorflow as tf
    from helpers import full_config

    from workflow_scripts import models
    from workflow_scripts.datasets import make_datasets
    from workflow_scripts.settings import for_training

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    keras.utils.set_random_seed(0)
    if det:
        tf.config.experimental.enable_op_determinism()
    if setting == CHANNELS_FIRST:
        keras.config.set_image_data_format("channels_first")
    cfg = full_config()
    rng = np.random.default_rng(0)
    n = images - images % batch
    pixels = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = pd.DataFrame({"path": [f"{i}.jpg" for i in range(n)], "age": rng.integers(1, 90, n),
                           "gender": rng.integers(0, 2, n), "race": 0, "datetime": "0"})  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        arrays, splits = {}, {}
        for s in ("train", "val"):
            np.save(f"{tmp}/{s}.npy", pixels)
            labels.to_csv(f"{tmp}/{s}.csv", index=False)
            arrays[s], splits[s] = f"{tmp}/{s}.npy", f"{tmp}/{s}.csv"
        data = make_datasets(arrays, splits, batch, seed=0)
        run = for_training(cfg, model)
        train, aug = data.train, run.augmentation
        if AUG_IN_DATA in setting:
            layer = models.augmentation(replace(aug, flip="none"), 0)
            train = train.map(lambda x, y: (layer(x, training=True), y))
            # the flip compiles: it stays in the model
            aug = replace(aug, rotation=0, zoom=0, translation=0, shear=0)
        if model == "A":
            net = models.build_model_a(size, run.model, aug, 0)
            opt = keras.optimizers.Adam(1e-3)
        else:
            net = models.build_model_b(size, run.model, aug, 0)
            opt = keras.optimizers.RMSprop(1e-3)
        models.compile_model(net, opt, run.model, jit_compile=jit)
        net.fit(train, epochs=1, verbose=0)  # warm-up: tracing and compilation
        t0 = time.perf_counter()
        net.fit(train, epochs=epochs, verbose=0)
        rate = epochs * n / (time.perf_counter() - t0)
    digest = hashlib.sha1(b"".join(np.asarray(w).tobytes() for w in net.get_weights())).hexdigest()
    return {"img_s": rate, "weights": digest, "xla": bool(net.jit_compile)}


def run_one(model: str, setting: str, a: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--one", model, setting, "--images", str(a.images),
           "--epochs", str(a.epochs), "--size", str(a.size), "--batch", str(a.batch)]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        errors = [line for line in proc.stderr.splitlines() if "Error" in line] or ["?"]
        return {"error": errors[-1].strip()[:100]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=384)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--models", nargs="+", default=["A", "B"])
    p.add_argument("--only", nargs="+", default=[], help="run only the settings whose name starts so")
    p.add_argument("--one", nargs=2, metavar=("MODEL", "SETTING"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(*a.one, a.images, a.epochs, a.size, a.batch)))
        return
    print(f"{'model':>5}  {'setting':<45} {'img/s':>7} {'(runs)':>13} {'ratio':>6}  XLA  same bits")
    for m in a.models:
        base = None
        for setting in [*SETTINGS, CHANNELS_FIRST]:
            if a.only and not any(setting.startswith(o) for o in a.only):
                continue
            r = [run_one(m, setting, a) for _ in range(2 if setting != CHANNELS_FIRST else 1)]
            if "error" in r[0]:
                print(f"{m:>5}  {setting:<45} fails: {r[0]['error']}", flush=True)
                continue
            rates = [x["img_s"] for x in r]
            mean = sum(rates) / len(rates)
            base = base or mean
            same = ("yes" if r[0]["weights"] == r[1]["weights"] else "NO") if SETTINGS[setting][0] else "-"
            runs = "/".join(f"{x:.0f}" for x in rates)
            print(f"{m:>5}  {setting:<45} {mean:>7.1f} {runs:>13} {mean / base:>6.2f}  "
                  f"{'on ' if r[0]['xla'] else 'off'}  {same}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
