#!/usr/bin/env bash
# GPU check (under 5 minutes): both models train on the GPU for a few epochs at 128 px, and the images/s
# of each is printed with and without mixed precision. Run on a machine with an NVIDIA GPU, in a venv with
# `pip install -e '.[gpu]' && pip uninstall -y tensorflow-cpu`:
#     bash bench/gpu_check.sh [IMAGES] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES=${1:-2048}
EPOCHS=${2:-3}
PY=${PYTHON:-python}
"$PY" - "$IMAGES" "$EPOCHS" <<'PYEOF'
import sys, time
sys.path.insert(0, ".")
sys.path.insert(0, "tests")
from workflow_scripts.train import configure_tensorflow
configure_tensorflow()
import keras, numpy as np, tensorflow as tf
from conftest import full_config
from workflow_scripts import models

n, epochs = int(sys.argv[1]), int(sys.argv[2])
gpus = tf.config.list_physical_devices("GPU")
print("TensorFlow", tf.__version__, "GPUs:", [g.name for g in gpus])
if not gpus:
    sys.exit("ERROR: no GPU visible to TensorFlow")
for g in gpus:
    tf.config.experimental.set_memory_growth(g, True)
cfg = full_config()
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8)
y = {"age": rng.uniform(1, 90, (n, 1)).astype("float32"), "gender": rng.integers(0, 2, (n, 1)).astype("float32")}
ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n, seed=0).batch(32, drop_remainder=True)
ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b)).prefetch(tf.data.AUTOTUNE)
print(f"{'model':>5} {'precision':>14} {'img/s':>9}")
for policy in ("float32", "mixed_float16"):
    keras.mixed_precision.set_global_policy(policy)
    for m in ("A", "B"):
        keras.utils.set_random_seed(0)
        net = (models.build_model_a(128, cfg["model_a"], cfg["augmentation"], 0) if m == "A"
               else models.build_model_b(128, cfg["model_b"], cfg["augmentation"], 0))
        if m == "B":
            models.unfreeze(net, 8)  # the longer, unfrozen phase
        models.compile_model(net, keras.optimizers.Adam(1e-4), {"age": 1.0, "gender": 10.0})
        net.fit(ds, epochs=1, verbose=0)
        t0 = time.perf_counter()
        net.fit(ds, epochs=epochs, verbose=0)
        print(f"{m:>5} {policy:>14} {epochs * (n // 32) * 32 / (time.perf_counter() - t0):>9.0f}", flush=True)
PYEOF
