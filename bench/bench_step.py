"""Benchmark: where a training step of Model A spends its time, and what share of the CPU's peak it reaches.

Each setting is Model A at the study's settings (128 px, batch 32, the workflow's builder and
`compile_model`, the training thread settings of `train._runtime`) with one part taken out, timed in a
fresh process on the same random images, the settings alternated `--repeat` times; the best run of each
counts. The difference to the full step is that part's cost. "forward only" is `predict_on_batch`.
"augmentation in tf.data" moves it instead: the same layers, in a parallel `tf.data` map beside the step
(as keras-io advises for CPUs), the model built without them.

The work is counted from the model: 2 x (output pixels x kernel area x input channels x filters) per
convolution and 2 x inputs x units per dense layer, forward; a training step is about three forward passes
(forward, and the gradients of activations and of weights). The peak is cores x clock x FP32 FLOPs per
cycle per core; `--flops-per-cycle` is 32 by default (two 256-bit FMA units: AMD Zen 4, most Intel client
cores; Intel server cores with two 512-bit FMA units do 64). The clock is /proc/cpuinfo's, which may be
the base clock.

    python bench/bench_step.py [--repeat 3] [--images 256] [--flops-per-cycle 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETTINGS = {
    "full step (the study's)": {},
    "without augmentation": {
        "augmentation": {"flip": "none", "rotation": 0, "zoom": 0, "translation": 0, "shear": 0}
    },
    "without dropout": {"model_a": {"spatial_dropout": 0, "dropout": 0}},
    "without BatchNorm": {"no_batchnorm": True},
    # `bn_kernel: fused`, TensorFlow's kernel: the same arithmetic up to float rounding
    "fused BatchNorm (TF's kernel)": {"model_a": {"bn_kernel": "fused"}},
    # the same augmentation, computed by tf.data's parallel map beside the step instead of inside it
    "augmentation in tf.data": {"aug_in_data": True},
    "forward only": {"forward": True},
}

STEP = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from workflow_scripts.tfsetup import configure_tensorflow
configure_tensorflow(2)
import keras, numpy as np, tensorflow as tf
tf.config.experimental.enable_op_determinism()
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)
from workflow_scripts import models
from workflow_scripts.configcheck import load_yaml, with_defaults
change = json.loads({change!r})
if change.pop("no_batchnorm", False):
    models.layer_class = lambda kernel: lambda momentum, name: keras.layers.Identity(name=name)
forward = change.pop("forward", False)
aug_in_data = change.pop("aug_in_data", False)
from dataclasses import replace
from workflow_scripts.settings import for_training
run = for_training(with_defaults(change, load_yaml({schema!r})), "A")
keras.utils.set_random_seed(1)
aug = run.augmentation
if aug_in_data:
    aug = replace(aug, flip="none", rotation=0, zoom=0, translation=0, shear=0)
net = models.build_model_a(128, run.model, aug, 1)
models.compile_model(net, keras.optimizers.Adam(1e-3), run.model)
flops = 0
def walk(m):
    for layer in m.layers:
        yield layer
        yield from walk(layer) if hasattr(layer, 'layers') else ()
for layer in walk(net):
    if isinstance(layer, keras.layers.Conv2D):
        _, h, w, c = layer.output.shape
        flops += 2 * h * w * c * layer.kernel.shape[0] * layer.kernel.shape[1] * layer.kernel.shape[2]
    elif isinstance(layer, keras.layers.Dense):
        flops += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
n = {n}
rng = np.random.default_rng(0)
x = rng.integers(0, 255, (n, 128, 128, 3)).astype(np.float32)
y = {{"age": rng.uniform(1, 90, n).astype(np.float32), "gender": rng.integers(0, 2, n).astype(np.float32)}}
if forward:
    run = lambda: [net.predict_on_batch(x[i : i + 32]) for i in range(0, n, 32)]
elif aug_in_data:
    layer = models.augmentation(run.augmentation, 1)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    ds = ds.map(lambda a, b: (layer(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    run = lambda: net.fit(ds, epochs=1, verbose=0)
else:
    run = lambda: net.fit(x, y, batch_size=32, epochs=1, verbose=0)
run()
t = time.perf_counter()
run()
print(json.dumps({{"rate": n / (time.perf_counter() - t), "forward_flops": flops}}))
"""


def step(change: dict, n: int) -> dict:
    schema = str(ROOT / "config/schema.yaml")
    code = STEP.format(root=str(ROOT), change=json.dumps(change), schema=schema, n=n)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def clock_ghz() -> float:
    mhz = [
        float(ln.split(":")[1]) for ln in Path("/proc/cpuinfo").read_text().splitlines() if "cpu MHz" in ln
    ]
    return (max(mhz) if mhz else float("nan")) / 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--flops-per-cycle", type=float, default=32)
    a = p.parse_args()
    rates: dict[str, list[float]] = {name: [] for name in SETTINGS}
    flops = 0.0
    for k in range(a.repeat):
        for name in SETTINGS if k % 2 == 0 else list(SETTINGS)[::-1]:
            r = step(SETTINGS[name], a.images)
            rates[name].append(r["rate"])
            flops = flops or r["forward_flops"]
            print(f"  run {k + 1}: {name:<26} {r['rate']:6.1f} img/s")
    cores = os.cpu_count() or 1
    peak = cores * clock_ghz() * a.flops_per_cycle
    full = max(rates["full step (the study's)"])
    print(
        f"\nModel A at 128 px: {flops / 1e6:.0f} MFLOP forward, ~{3 * flops / 1e9:.2f} GFLOP a trained image"
    )
    print(
        f"peak: {cores} cores x {clock_ghz():.2f} GHz x {a.flops_per_cycle:g} FLOP/cycle = {peak:.0f} GFLOP/s"
    )
    print(f"{'setting':<28} {'img/s':>7} {'ms/img':>7} {'vs full':>8} {'GFLOP/s':>8} {'of peak':>8}")
    for name, rs in rates.items():
        rate = max(rs)
        work = flops if name == "forward only" else 3 * flops
        achieved = rate * work / 1e9
        print(f"{name:<28} {rate:7.1f} {1000 / rate:7.2f} {1000 / rate - 1000 / full:+8.2f} {achieved:8.1f} "
              f"{achieved / peak:8.0%}")  # fmt: skip
    print("(vs full: milliseconds per image saved without the part; forward only: the forward pass alone)")


if __name__ == "__main__":
    main()
