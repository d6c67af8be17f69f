"""What the per-epoch training state costs (workflow_scripts/trainstate.py): its size, the time to write
it (temporary file, fsync, rename) and to read it back, for Model A or B at the study's size, with the
optimizer built as in B's unfrozen phase; beside it, the time of Keras' own `model.save` of the same
model, the baseline that any best-model checkpoint pays, measured in the same run.

    python bench/bench_state.py [--model B] [--size 128] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from workflow_scripts.tfsetup import configure_tensorflow  # noqa: E402

configure_tensorflow()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", choices=["A", "B"], default="B")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    import keras
    import yaml

    from workflow_scripts import models, trainstate
    from workflow_scripts.callbacks import values
    from workflow_scripts.configcheck import with_defaults
    from workflow_scripts.settings import for_training

    root = Path(__file__).resolve().parents[1]
    run = for_training(with_defaults({}, yaml.safe_load((root / "config/schema.yaml").read_text())), a.model)
    mcfg = run.model
    if a.model == "A":
        net = models.build_model_a(a.size, mcfg, run.augmentation, 1)
        opt = keras.optimizers.Adam(mcfg.learning_rate)
    else:
        net = models.build_model_b(a.size, mcfg, run.augmentation, 1, None)
        models.unfreeze(net, mcfg.unfreeze_layers)
        opt = keras.optimizers.AdamW(mcfg.learning_rate, weight_decay=mcfg.weight_decay)
    models.compile_model(net, opt, mcfg)
    net.optimizer.build(net.trainable_variables)
    with tempfile.TemporaryDirectory(dir=root) as d:
        folder = Path(d)
        keras_s, writes = [], []
        for _ in range(a.repeat):
            t = time.perf_counter()
            net.save(folder / "best.keras")
            keras_s.append(time.perf_counter() - t)
        state = trainstate.TrainingState(run_key="bench", phase="unfrozen",
                                         best_model=(folder / "best.keras").read_bytes(),
                                         model_vars=values(net.variables),
                                         optimizer_vars=values(net.optimizer.variables))  # fmt: skip
        for epoch in range(1, a.repeat + 1):
            state.epoch = epoch
            t = time.perf_counter()
            path = trainstate.save(folder, state)
            writes.append(time.perf_counter() - t)
        t = time.perf_counter()
        trainstate.load(folder, "bench")
        read_s = time.perf_counter() - t
        size = path.stat().st_size
    print(f"model {a.model} at {a.size} px: state file {size / 1e6:,.0f} MB (best model inside: "
          f"{len(state.best_model) / 1e6:,.0f} MB), two kept")  # fmt: skip
    write, save = min(writes), min(keras_s)
    print(f"write (best of {a.repeat}): {write:.2f} s; read: {read_s:.2f} s; "
          f"Keras model.save of the same model: {save:.2f} s; ratio {write / save:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
