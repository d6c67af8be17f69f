"""GPU check: training throughput of both models with and without mixed precision and XLA, the GPU
memory each needs, and the projected time of the full study; ends well within 8 minutes.

Each setting trains a fixed number of steps (after warm-up steps that absorb tracing and XLA compilation)
on random 128 px images fed by tf.data, then runs validation steps. With XLA the augmentation runs in
tf.data (Keras compiles no model that holds the random rotation, zoom, translation and shear layers).
Model B is measured in both of its phases (VGG16 frozen, then its last `unfreeze_layers` trainable).
The projection uses the study's config: epochs per model and phase, the train and validation sizes of
`split.train_val_size` and `split.val_fraction`. A setting that would start after `--budget-s` is skipped,
so the script always ends.

The workflow trains with TensorFlow; where a GPU machine has no TensorFlow, the same Keras models run on
the JAX backend (`KERAS_BACKEND=jax`), compiled by XLA (run uncompiled, JAX is far slower: not measured):
batches come from a Python generator instead of tf.data, augmented once before the clock starts.

    python bench/gpu_check.py [--steps 40] [--budget-s 420]         # on a GPU machine
    KERAS_BACKEND=jax python bench/gpu_check.py                     # the same where only JAX is there
    python bench/gpu_check.py --allow-cpu --size 32 --steps 2       # smoke test of the script itself
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# (model, phase) pairs measured; B's two phases differ in what is trained
PARTS = [("A", "train"), ("B", "frozen"), ("B", "unfrozen")]
SETTINGS = {
    "tensorflow": [("float32", False), ("float32", True), ("mixed_float16", False), ("mixed_float16", True)],
    "jax": [("float32", True), ("mixed_float16", True)],  # JAX runs every step compiled by XLA
}


def backend() -> str:
    import keras

    return keras.backend.backend()


def build(model: str, phase: str, run, size: int, aug):
    import keras

    from workflow_scripts import models

    keras.utils.set_random_seed(0)
    m = run.model
    if model == "A":
        net = models.build_model_a(size, m, aug, 0)
        return net, keras.optimizers.Adam(m.learning_rate)
    net = models.build_model_b(size, m, aug, 0)
    if phase == "frozen":
        return net, keras.optimizers.RMSprop(m.frozen_learning_rate)
    models.unfreeze(net, m.unfreeze_layers)
    return net, keras.optimizers.AdamW(m.learning_rate)


def dataset(size: int, batch: int, augment=None):
    """Endless batches of random images and labels, through `augment` (a Keras layer) if given: tf.data
    on TensorFlow; elsewhere a generator of batches augmented once, before the clock starts."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = 8 * batch
    x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    y = {"age": rng.uniform(1, 90, (n, 1)).astype("float32"),
         "gender": rng.integers(0, 2, (n, 1)).astype("float32")}  # fmt: skip
    if backend() != "tensorflow":
        import keras

        images = x.astype("float32")
        if augment is not None:
            images = keras.ops.convert_to_numpy(augment(images, training=True))

        def batches():
            while True:
                for i in range(0, n, batch):
                    yield images[i : i + batch], {k: v[i : i + batch] for k, v in y.items()}

        return batches()
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch, drop_remainder=True)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b))
    if augment is not None:
        ds = ds.map(lambda a, b: (augment(a, training=True), b))
    return ds.prefetch(tf.data.AUTOTUNE)


def gpu_memory(reset: bool = False) -> float:
    """Peak GPU memory in MiB since the last reset (JAX cannot reset: its peak is the process's); NaN
    without a GPU."""
    if backend() == "jax":
        import jax

        device = jax.devices()[0]
        stats = device.memory_stats() if device.platform == "gpu" else None
        return stats["peak_bytes_in_use"] / 2**20 if stats else float("nan")
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return float("nan")
    if reset:
        tf.config.experimental.reset_memory_stats("GPU:0")
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def measure(model: str, phase: str, policy: str, xla: bool, a: argparse.Namespace, cfg: dict) -> dict:
    """Train and validation images/s and peak GPU memory (MiB) of one model phase under one setting."""
    import keras

    from workflow_scripts import models

    keras.mixed_precision.set_global_policy(policy)
    keras.backend.clear_session()
    gpu_memory(reset=True)
    from dataclasses import replace

    from workflow_scripts.settings import for_training

    run = for_training(cfg, model)
    aug, layer = run.augmentation, None
    if xla:  # Keras compiles no model holding the random rotation/zoom/shear layers: they go to the input
        layer = models.augmentation(replace(aug, flip="none"), 0)
        aug = replace(aug, rotation=0, zoom=0, translation=0, shear=0)
    ds = dataset(a.size, a.batch, layer)
    net, opt = build(model, phase, run, a.size, aug)
    models.compile_model(net, opt, run.model, jit_compile=xla)
    net.fit(ds, epochs=1, steps_per_epoch=a.warmup, verbose=0)  # tracing, XLA compilation
    t0 = time.perf_counter()
    net.fit(ds, epochs=1, steps_per_epoch=a.steps, verbose=0)
    train = a.steps * a.batch / (time.perf_counter() - t0)
    net.evaluate(ds, steps=a.warmup, verbose=0)
    t0 = time.perf_counter()
    net.evaluate(ds, steps=a.steps, verbose=0)
    val = a.steps * a.batch / (time.perf_counter() - t0)
    return {"train": train, "val": val, "mib": gpu_memory(), "xla": bool(net.jit_compile)}


def accelerators(allow_cpu: bool) -> list[str]:
    """Print the framework and the GPUs it sees; return their names. Without one, stop unless allowed."""
    if backend() == "jax":
        import jax

        gpus = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
        print(f"Keras on JAX {jax.__version__}, GPUs: {gpus}", flush=True)
    else:
        from workflow_scripts.tfsetup import configure_tensorflow

        configure_tensorflow()
        import tensorflow as tf

        found = tf.config.list_physical_devices("GPU")
        print(f"TensorFlow {tf.__version__}, GPUs: {[g.name for g in found]}", flush=True)
        for g in found:
            tf.config.experimental.set_memory_growth(g, True)
        gpus = [tf.config.experimental.get_device_details(g).get("device_name", "?") for g in found]
        if gpus:
            print(f"device: {gpus[0]}")
    if not gpus and not allow_cpu:
        hint = "a CUDA build of jax" if backend() == "jax" else "pip install -e '.[gpu]'"
        sys.exit(f"ERROR: no GPU visible to {backend()} ({hint}); --allow-cpu runs it on the CPU")
    return gpus


def study_epochs(cfg: dict) -> dict[tuple[str, str], int]:
    b = cfg["model_b"]
    return {("A", "train"): cfg["model_a"]["epochs"], ("B", "frozen"): b["frozen_epochs"],
            ("B", "unfrozen"): b["epochs"] - b["frozen_epochs"]}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=40, help="timed steps per setting")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (tracing, XLA compilation)")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--budget-s", type=float, default=420, help="start no setting after this many seconds")
    p.add_argument("--allow-cpu", action="store_true", help="run without a GPU (to test this script)")
    a = p.parse_args()
    start = time.perf_counter()
    from helpers import full_config

    accelerators(a.allow_cpu)
    cfg = full_config(image_size=a.size)
    n_val = round(cfg["split"]["train_val_size"] * cfg["split"]["val_fraction"])
    n_train = cfg["split"]["train_val_size"] - n_val
    epochs = study_epochs(cfg)
    print(f"{'model':>5} {'phase':>9} {'precision':>14} {'XLA':>4} {'train img/s':>12} {'val img/s':>10} "
          f"{'peak MiB':>9} {'study min':>10}", flush=True)  # fmt: skip
    best: dict[tuple[str, str], float] = {}
    for policy, xla in SETTINGS[backend()]:
        for model, phase in PARTS:
            if time.perf_counter() - start > a.budget_s:
                print(f"{model:>5} {phase:>9} {policy:>14} {'on' if xla else 'off':>4}  skipped: time budget")
                continue
            r = measure(model, phase, policy, xla, a, cfg)
            minutes = epochs[model, phase] * (n_train / r["train"] + n_val / r["val"]) / 60
            best[model, phase] = min(best.get((model, phase), minutes), minutes)
            print(f"{model:>5} {phase:>9} {policy:>14} {'on' if r['xla'] else 'off':>4} {r['train']:>12.0f} "
                  f"{r['val']:>10.0f} {r['mib']:>9.0f} {minutes:>10.1f}", flush=True)  # fmt: skip
    if len(best) == len(PARTS):
        total = sum(best.values())
        print(f"projected full study ({n_train} train + {n_val} val images, epochs {epochs[PARTS[0]]} for A, "
              f"{epochs[PARTS[1]]} + {epochs[PARTS[2]]} for B), best setting of each part: "
              f"{total:.1f} min of training for one seed")  # fmt: skip
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
