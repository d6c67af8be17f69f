"""Train Model A or B on the preprocessed arrays; keep the best epoch by validation loss.

Outputs: `model.keras` (best checkpoint), `history.csv` (every epoch of every phase, once),
`train_info.json`. A run that is killed resumes from its last finished epoch when started again:
its state lives in `<out>/_resume/`, which is not a declared output, so Snakemake keeps it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from .fileio import atomic_path, setup_logging, write_json
from .labels import read_labels

log = logging.getLogger("utkface.train")

HISTORY_METRICS = ["loss", "age_loss", "gender_loss", "age_mae", "gender_accuracy"]
HISTORY_COLUMNS = (
    ["epoch", "phase", "lr"]
    + HISTORY_METRICS
    + [f"val_{m}" for m in HISTORY_METRICS]
    + ["epoch_time_s", "trainable_params"]
)


def configure_tensorflow(threads: int | None = None) -> None:
    """Environment that must be set before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN kernels: about 1.5x faster for Model A on this project's CPUs.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def epoch_plan(model: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The training phases: [{name, until_epoch, optimizer, lr, ...}] with continuous epoch counts."""
    mcfg = cfg[f"model_{model.lower()}"]
    total = cfg["train"]["epochs"] or mcfg["epochs"]
    if model == "A":
        return [{"name": "train", "until": total, "optimizer": "adam", "lr": mcfg["learning_rate"]}]
    frozen = min(mcfg["frozen_epochs"], total)
    phases = []
    if frozen:
        phases.append(
            {"name": "frozen", "until": frozen, "optimizer": "rmsprop", "lr": mcfg["frozen_learning_rate"]}
        )
    if total > frozen:
        phases.append(
            {
                "name": "unfrozen",
                "until": total,
                "optimizer": "adamw",
                "lr": mcfg["learning_rate"],
                "weight_decay": mcfg["weight_decay"],
                "unfreeze": mcfg["unfreeze_layers"],
            }
        )
    return phases


def _optimizer(phase: dict[str, Any]):
    import keras

    if phase["optimizer"] == "adam":
        return keras.optimizers.Adam(phase["lr"])
    if phase["optimizer"] == "rmsprop":
        return keras.optimizers.RMSprop(phase["lr"])
    return keras.optimizers.AdamW(phase["lr"], weight_decay=phase["weight_decay"])


def make_datasets(
    arrays: dict[str, str],
    splits: dict[str, str],
    batch_size: int,
    seed: int,
    shuffle_buffer: int | None = None,
):
    """tf.data pipelines over the uint8 arrays: seeded shuffle, batches, float cast, prefetch."""
    import numpy as np
    import tensorflow as tf

    out = {}
    for split in ("train", "val"):
        images = np.load(arrays[split], mmap_mode="r")
        labels = read_labels(splits[split])
        if len(labels) != len(images):
            raise ValueError(f"{arrays[split]} has {len(images)} rows but {splits[split]} has {len(labels)}")
        if split == "train" and len(images) < batch_size:
            raise ValueError(f"train split has {len(images)} images, fewer than one batch of {batch_size}")
        x = tf.constant(np.asarray(images))
        y = {
            "age": tf.constant(labels["age"].to_numpy("float32")[:, None]),
            "gender": tf.constant(labels["gender"].to_numpy("float32")[:, None]),
        }
        # Shuffle and batch indices, then gather each batch at once: shuffling whole images one by one
        # made the pipeline slower than a plain fit on NumPy arrays.
        ds = tf.data.Dataset.range(len(images))
        if split == "train":
            ds = ds.shuffle(shuffle_buffer or len(images), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=(split == "train"))
        ds = ds.map(
            lambda idx, x=x, y=y: (
                tf.cast(tf.gather(x, idx), tf.float32),
                {k: tf.gather(v, idx) for k, v in y.items()},
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        out[split] = ds.prefetch(tf.data.AUTOTUNE)
    return out["train"], out["val"]


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """History rows so far; a repeated epoch (killed after logging, before its backup) keeps the last."""
    if not path.exists():
        return []
    rows: dict[int, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the kill
                continue
            rows[row["epoch"]] = row
    return [rows[k] for k in sorted(rows)]


def keep_best(path: Path, state: Path):
    """ModelCheckpoint(monitor="val_loss", save_best_only=True), but written atomically (a kill mid-save
    never leaves a corrupt best model) and with its best score kept in `state` for a restarted run."""
    import keras
    import numpy as np

    class KeepBest(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = json.loads(state.read_text())["best"] if path.exists() and state.exists() else np.inf

        def on_epoch_end(self, epoch, logs=None):
            current = (logs or {}).get("val_loss")
            if current is None or not np.isfinite(current) or current >= self.best:
                return
            with atomic_path(path, ".keras") as tmp:
                self.model.save(tmp)
            self.best = float(current)
            write_json(state, {"best": self.best, "epoch": epoch + 1})
            log.info("epoch %d: val_loss improved to %.4f, best model saved", epoch + 1, current)

    return KeepBest()


def _callbacks(
    resume: Path, phase: dict[str, Any], mcfg: dict[str, Any], rows: list[dict[str, Any]], checkpoint
):
    """In call order: log the epoch, checkpoint the best, schedule the lr, and only then back up, so a kill
    at any point loses no epoch from the history and no best model."""
    import keras

    from .models import trainable_params

    class EpochLog(keras.callbacks.Callback):
        """Appends one JSON line per epoch (before the backup is written, so no epoch is ever lost)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            self.lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

        def on_epoch_end(self, epoch, logs=None):
            row = {
                "epoch": epoch + 1,
                "phase": phase["name"],
                "lr": self.lr,
                **{k: float(v) for k, v in (logs or {}).items() if k in HISTORY_COLUMNS},
                "epoch_time_s": time.perf_counter() - self.t0,
                "trainable_params": trainable_params(self.model),
            }
            with open(resume / "history.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())

    class RestorePlateau(keras.callbacks.Callback):
        """ReduceLROnPlateau forgets its state at every fit(); give back what this phase had seen."""

        def __init__(self, plateau):
            super().__init__()
            self.plateau = plateau

        def on_train_begin(self, logs=None):
            seen = [r["val_loss"] for r in rows if r["phase"] == phase["name"]]
            if seen:
                best = min(seen)
                self.plateau.best = best
                self.plateau.wait = len(seen) - 1 - seen.index(best)

    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss",
        factor=mcfg["lr_factor"],
        patience=mcfg["lr_patience"],
        min_lr=mcfg["min_lr"],
        verbose=1,
    )
    # delete_checkpoint=False: a run killed after its last epoch must not redo the phase.
    # double_checkpoint: a kill while the backup is being written leaves the previous one to load.
    backup = keras.callbacks.BackupAndRestore(
        str(resume / f"backup_{phase['name']}"), delete_checkpoint=False, double_checkpoint=True
    )
    return [EpochLog(), checkpoint, plateau, RestorePlateau(plateau), backup]


def train(
    model: str,
    cfg: dict[str, Any],
    arrays: dict[str, str],
    splits: dict[str, str],
    out_dir: str | Path,
    seed: int,
    weights: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train `model` ('A' or 'B') with its state in `out_dir/_resume`; returns the train_info dict
    (`write_outputs` publishes it with the model and the history)."""
    configure_tensorflow(threads)
    import keras
    import tensorflow as tf

    from . import models

    out = Path(out_dir)
    resume = out / "_resume"
    resume.mkdir(parents=True, exist_ok=True)
    gpus = tf.config.list_physical_devices("GPU")
    for g in gpus:
        tf.config.experimental.set_memory_growth(g, True)
    deterministic = cfg["train"]["deterministic"]
    deterministic = (not gpus) if deterministic is None else deterministic
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    mixed = bool(gpus) and cfg["train"]["mixed_precision"]
    if mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    mcfg = cfg[f"model_{model.lower()}"]
    size = cfg["image_size"]
    log.info(
        "model %s, seed %d, %d GPU(s), deterministic=%s, mixed precision=%s",
        model,
        seed,
        len(gpus),
        deterministic,
        mixed,
    )

    train_ds, val_ds = make_datasets(
        arrays,
        splits,
        mcfg["batch_size"] * strategy.num_replicas_in_sync,
        seed,
        cfg["train"]["shuffle_buffer"],
    )
    with strategy.scope():
        if model == "A":
            net = models.build_model_a(size, mcfg, cfg["augmentation"], seed)
        else:
            net = models.build_model_b(size, mcfg, cfg["augmentation"], seed, weights)
    params_at_start = models.trainable_params(net)
    # Start the linear age output at the training mean age (bias only, no extra parameter): otherwise
    # the first epochs are spent learning an offset of ~35 years from 0.
    mean_age = float(read_labels(splits["train"])["age"].mean())
    net.get_layer("age").bias.assign([mean_age])

    # one instance: it spans both phases of B
    checkpoint = keep_best(resume / "best.keras", resume / "best.json")
    rows = _read_rows(resume / "history.jsonl")
    if rows:
        log.info("resuming after epoch %d (best val_loss so far %.4f)", rows[-1]["epoch"], checkpoint.best)

    t0 = time.perf_counter()
    plan = epoch_plan(model, cfg)
    start = 0
    for phase in plan:
        done_marker = resume / f"done_{phase['name']}.weights.h5"
        with strategy.scope():
            if phase.get("unfreeze") is not None:
                models.unfreeze(net, phase["unfreeze"])
            models.compile_model(net, _optimizer(phase), mcfg["loss_weights"])
        if done_marker.exists():
            net.load_weights(done_marker)
            log.info("phase %s already finished; weights restored", phase["name"])
        else:
            log.info(
                "phase %s: epochs %d-%d, %s lr=%g, %d trainable parameters",
                phase["name"],
                start + 1,
                phase["until"],
                phase["optimizer"],
                phase["lr"],
                models.trainable_params(net),
            )
            callbacks = _callbacks(resume, phase, mcfg, rows, checkpoint)
            net.fit(
                train_ds,
                validation_data=val_ds,
                initial_epoch=start,
                epochs=phase["until"],
                callbacks=callbacks,
                verbose=2,
            )
            # Weights only (the next phase recompiles with its own optimizer), written atomically: a marker
            # cut by a kill would otherwise be taken for a finished phase.
            with atomic_path(done_marker, ".weights.h5") as tmp:
                net.save_weights(tmp)
        start = phase["until"]
        rows = _read_rows(resume / "history.jsonl")

    if not (resume / "best.json").exists():
        raise RuntimeError("no checkpoint was written: validation loss was never finite")
    # the epoch the checkpoint really holds, as recorded when it was saved
    best = json.loads((resume / "best.json").read_text())
    info = {
        "model": model,
        "seed": seed,
        "epochs_run": len(rows),
        "best_epoch": best["epoch"],
        "best_val_loss": best["best"],
        "trainable_params": params_at_start,
        "trainable_params_final": models.trainable_params(net),
        "train_time_s": sum(r["epoch_time_s"] for r in rows),
        "wall_time_this_run_s": time.perf_counter() - t0,
        "phases": plan,
        "deterministic": deterministic,
        "mixed_precision": mixed,
        "gpus": [g.name for g in gpus],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "image_size": size,
        "weights": weights or "none",
    }
    return info


def write_outputs(
    out: Path, model_path: str, history_path: str, info_path: str, info: dict[str, Any]
) -> None:
    """Publish the outputs atomically, then drop the resume state."""
    import pandas as pd

    resume = out / "_resume"
    rows = _read_rows(resume / "history.jsonl")
    with atomic_path(history_path, ".csv") as tmp:
        pd.DataFrame(rows).reindex(columns=HISTORY_COLUMNS).to_csv(tmp, index=False, lineterminator="\n")
    with atomic_path(model_path, ".keras") as tmp:
        shutil.copyfile(resume / "best.keras", tmp)
    write_json(info_path, info)
    shutil.rmtree(resume)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, choices=["A", "B"])
    p.add_argument("--config", required=True, help="the workflow's config as JSON")
    p.add_argument("--seed", type=int, required=True)
    for s in ("train", "val"):
        p.add_argument(f"--{s}-images", required=True)
        p.add_argument(f"--{s}-split", required=True)
    p.add_argument("--weights", default="", help="path to VGG16 no-top weights (Model B); empty = none")
    p.add_argument("--model-out", required=True)
    p.add_argument("--history", required=True)
    p.add_argument("--info", required=True)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    setup_logging()
    cfg = json.loads(a.config)
    out = Path(a.model_out).parent
    arrays = {"train": a.train_images, "val": a.val_images}
    splits = {"train": a.train_split, "val": a.val_split}
    info = train(a.model, cfg, arrays, splits, out, a.seed, a.weights or None, a.threads)
    write_outputs(out, a.model_out, a.history, a.info, info)
    log.info(
        "best epoch %d of %d, val_loss %.4f", info["best_epoch"], info["epochs_run"], info["best_val_loss"]
    )


if __name__ == "__main__":
    main()
