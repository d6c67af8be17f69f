"""Benchmark: float32 against bfloat16 (`train.precision`) on this CPU, for speed and for accuracy.

Speed: Models A and B (the workflow's builders and `compile_model`, study settings, 128 px random images),
each setting in a fresh process, the settings alternated `--repeat` times (this machine's speed drifts);
one warm-up epoch, then two timed ones. Prints images/s per run, the mean per setting and the ratio.

Accuracy (`--demo RESULTS`): the demo's models trained by `train.train` in both precisions on a demo run's
arrays (`RESULTS`/data/arrays, splits), same seed and config, with its validation numbers side by side;
`--demo-setting bn_kernel` trains them with each BatchNorm kernel instead (`model_a.bn_kernel`, keras and
fused, at the demo's precision: float32).

    python bench/bench_precision.py [--repeat 3] [--models A B] [--demo results] [--demo-setting bn_kernel]
        [--demo-seeds 1 2 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("float32", "mixed_bfloat16")
# the settings --demo compares: where each sits in the model's config, and its values
SETTINGS = {"precision": ("train", ("float32", "bfloat16")), "bn_kernel": ("model", ("keras", "fused"))}

SPEED = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from workflow_scripts.tfsetup import configure_tensorflow
configure_tensorflow(2)
import keras, numpy as np, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)
keras.mixed_precision.set_global_policy({policy!r})
from workflow_scripts import models
from workflow_scripts.configcheck import load_yaml, with_defaults
from workflow_scripts.settings import for_training
run = for_training(with_defaults({{}}, load_yaml({schema!r})), {model!r})
keras.utils.set_random_seed(1)
if {model!r} == "A":
    net = models.build_model_a(128, run.model, run.augmentation, 1)
else:
    net = models.build_model_b(128, run.model, run.augmentation, 1, None)
models.compile_model(net, keras.optimizers.Adam(1e-4), run.model)
n = {n}
rng = np.random.default_rng(0)
x = rng.integers(0, 255, (n, 128, 128, 3)).astype(np.float32)
y = {{"age": rng.uniform(1, 90, n).astype(np.float32), "gender": rng.integers(0, 2, n).astype(np.float32)}}
net.fit(x, y, batch_size=32, epochs=1, verbose=0)
t = time.perf_counter()
h = net.fit(x, y, batch_size=32, epochs=2, verbose=0)
print(json.dumps({{"rate": 2 * n / (time.perf_counter() - t), "loss": h.history["loss"][-1]}}))
"""


def speed(model: str, policy: str, n: int) -> dict:
    code = SPEED.format(
        root=str(ROOT), policy=policy, schema=str(ROOT / "config/schema.yaml"), model=model, n=n
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def accuracy(results: Path, model: str, setting: str = "precision", seeds: list[int] | None = None) -> None:
    """Train the demo's `model` with each value of `setting`, for each seed (the demo's own by default);
    print each training's best validation epoch and, over several seeds, the paired mean difference."""
    sys.path.insert(0, str(ROOT))
    from workflow_scripts import train
    from workflow_scripts.configcheck import load_yaml, with_defaults

    cfg = with_defaults(load_yaml(ROOT / "config/demo.yaml"), load_yaml(ROOT / "config/schema.yaml"))
    arrays = {s: str(results / f"data/arrays/{s}_images.npy") for s in ("train", "val")}
    splits = {s: str(results / f"data/splits/{s}.csv") for s in ("train", "val")}
    epochs, size = cfg[f"model_{model.lower()}"]["epochs"], cfg["image_size"]
    what = f"{epochs} epochs, {size} px" + (", random VGG16 weights" if model == "B" else "")
    seeds = seeds or [cfg["seed"]]
    print(f"\nthe demo's Model {model} ({what}), seed {', '.join(map(str, seeds))}:")
    section, values = SETTINGS[setting]
    section = f"model_{model.lower()}" if section == "model" else section
    head = f"  {'seed':>4} {setting:<10} {'best epoch':>10}"
    print(f"{head} {'val age MAE':>12} {'val gender':>11} {'s/epoch':>8}")
    best: dict[str, list[tuple[float, float]]] = {v: [] for v in values}
    for seed in seeds:
        for value in values:
            cfg[section][setting] = value
            with tempfile.TemporaryDirectory() as tmp:
                resume = Path(tmp) / "resume"
                info = train.train(model, cfg, arrays, splits, resume, seed, None, threads=2)
                rows = {r["epoch"]: r for r in train.trainstate.load(resume, info["run_key"])[0].rows}
            row = rows[info["best_epoch"]]
            best[value].append((row["val_age_mae"], row["val_gender_accuracy"]))
            per_epoch = sum(r["epoch_time_s"] for r in rows.values()) / len(rows)
            print(f"  {seed:>4} {value:<10} {info['best_epoch']:>10} {row['val_age_mae']:>12.2f} "
                  f"{100 * row['val_gender_accuracy']:>10.1f}% {per_epoch:>8.1f}", flush=True)  # fmt: skip
    if len(seeds) > 1:
        first, second = values
        mae = [b[0] - a[0] for a, b in zip(best[first], best[second], strict=True)]
        acc = [100 * (b[1] - a[1]) for a, b in zip(best[first], best[second], strict=True)]
        print(f"  {second} - {first}, mean over the {len(seeds)} seeds (min to max): age MAE "
              f"{sum(mae) / len(mae):+.2f} ({min(mae):+.2f} to {max(mae):+.2f}), gender "
              f"{sum(acc) / len(acc):+.1f} points ({min(acc):+.1f} to {max(acc):+.1f})")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="speed runs per setting (0: accuracy only)")
    p.add_argument("--models", nargs="+", default=["A", "B"], choices=["A", "B"])
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--demo", type=Path, help="a demo run's results folder: also train its models both ways")
    p.add_argument("--demo-setting", choices=sorted(SETTINGS), default="precision", help="what --demo varies")
    p.add_argument("--demo-seeds", type=int, nargs="+", help="seeds of --demo (default: the demo's)")
    a = p.parse_args()
    sys.path.insert(0, str(ROOT))
    from workflow_scripts.tfsetup import cpu_has_amx, cpu_name

    print(f"{cpu_name()}, {platform.machine()}; AMX: {cpu_has_amx()}")
    for model in a.models if a.repeat else ():
        rates: dict[str, list[float]] = {p: [] for p in POLICIES}
        for k in range(a.repeat):
            for policy in POLICIES if k % 2 == 0 else POLICIES[::-1]:
                r = speed(model, policy, a.images)
                rates[policy].append(r["rate"])
                print(f"  {model} {policy:<15} run {k + 1}: {r['rate']:6.1f} img/s (loss {r['loss']:.1f})")
        mean = {p: sum(v) / len(v) for p, v in rates.items()}
        best = {p: max(v) for p, v in rates.items()}
        print(f"{model}: mean float32 {mean['float32']:.1f}, bfloat16 {mean['mixed_bfloat16']:.1f} img/s "
              f"({mean['mixed_bfloat16'] / mean['float32']:.2f}x); best {best['float32']:.1f} and "
              f"{best['mixed_bfloat16']:.1f} ({best['mixed_bfloat16'] / best['float32']:.2f}x)")  # fmt: skip
    for model in a.models if a.demo else ():
        accuracy(a.demo, model, a.demo_setting, a.demo_seeds)


if __name__ == "__main__":
    main()
