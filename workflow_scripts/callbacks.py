"""Keras callbacks of a training run: the history, the best checkpoint, the learning-rate schedule and the
training state that lets a killed run resume where it stopped (`trainstate`), written once per epoch.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from . import trainstate
from .formats import percent
from .pausepoints import pause_point
from .settings import ModelCommon
from .step import say
from .trainstate import TrainingState

log = logging.getLogger("utkface.train")

HISTORY_METRICS = ["loss", "age_loss", "gender_loss", "age_mae", "gender_accuracy"]
HISTORY_COLUMNS = (
    ["epoch", "phase", "lr"]
    + HISTORY_METRICS
    + [f"val_{m}" for m in HISTORY_METRICS]
    + ["epoch_time_s", "trainable_params"]
)


def values(variables) -> list:
    """The variables' values as numpy arrays."""
    import keras

    return [keras.ops.convert_to_numpy(v) for v in variables]


def assign(variables, arrays, what: str) -> None:
    """Set `variables` to `arrays`, refusing a list of other length or shapes (a state of another model)."""
    variables = list(variables)
    if len(variables) != len(arrays) or any(
        tuple(v.shape) != a.shape for v, a in zip(variables, arrays, strict=True)
    ):
        raise ValueError(f"the saved {what} do not match this model's")
    for v, a in zip(variables, arrays, strict=True):
        v.assign(a)


def seed_states(model) -> list[tuple[Any, int]]:
    """Each random layer's seed-generator state variable with its initial seed (augmentation, dropout)."""
    import keras

    return [
        (v, int(keras.ops.convert_to_numpy(v)[0]))
        for v in model.non_trainable_variables
        if v.path.endswith("seed_generator_state")
    ]


def epoch_randomness(data_epoch, states: list[tuple[Any, int]]):
    """At each epoch's start, make its data order, augmentation and dropout a function of (seed, epoch)
    alone, so that a resumed run draws the random numbers an uninterrupted one draws."""
    import keras

    class EpochRandomness(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            data_epoch.assign(epoch)
            for var, first in states:
                # the second word counts draws within the epoch (one per batch): 2**20 leave room enough
                var.assign([first, epoch << 20])

    return EpochRandomness()


def keep_best(state: TrainingState, scratch: Path):
    """ModelCheckpoint(monitor="val_loss", save_best_only=True), keeping the best model's `.keras` bytes in
    the training state (saved through `scratch`), so that it is written with the epoch that made it."""
    import keras
    import numpy as np

    class KeepBest(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            current = (logs or {}).get("val_loss")
            best = np.inf if state.best_val_loss is None else state.best_val_loss
            if current is None or not np.isfinite(current) or current >= best:
                return
            from .models import saveable

            saveable(self.model).save(scratch)
            pause_point("best-saved")
            state.best_model = scratch.read_bytes()
            scratch.unlink()
            state.best_val_loss, state.best_epoch = float(current), epoch + 1
            log.info("epoch %d: val_loss improved to %.4f, best model kept", epoch + 1, current)

    return KeepBest()


def phase_callbacks(resume: Path, phase: dict[str, Any], mcfg: ModelCommon, state: TrainingState,
                    randomness, resumed_plateau: dict[str, Any] | None) -> list:  # fmt: skip
    """In call order: fix the epoch's randomness, keep the best model, schedule the lr, then log the epoch
    and write the whole training state, so that the state holds everything the epoch changed."""
    import keras

    from .models import trainable_params

    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss",
        factor=mcfg.lr_factor,
        patience=mcfg.lr_patience,
        min_lr=mcfg.min_lr,
        verbose=1,
    )

    class ResumePlateau(keras.callbacks.Callback):
        """ReduceLROnPlateau resets its counters when fit() begins: put back those of the saved state."""

        def on_train_begin(self, logs=None):
            if resumed_plateau:
                plateau.best = resumed_plateau["best"]
                plateau.wait = resumed_plateau["wait"]
                plateau.cooldown_counter = resumed_plateau["cooldown_counter"]

    class SaveState(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            self.lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

        def on_train_batch_end(self, batch, logs=None):
            pause_point("batch-done")

        def on_epoch_end(self, epoch, logs=None):
            state.rows.append(
                {
                    "epoch": epoch + 1,
                    "phase": phase["name"],
                    "lr": self.lr,
                    **{k: float(v) for k, v in (logs or {}).items() if k in HISTORY_COLUMNS},
                    "epoch_time_s": time.perf_counter() - self.t0,
                    "trainable_params": trainable_params(self.model),
                }
            )
            state.epoch, state.phase = epoch + 1, phase["name"]
            best = plateau.best
            state.plateau = {
                "best": None if best is None else float(best),
                "wait": int(plateau.wait),
                "cooldown_counter": int(plateau.cooldown_counter),
            }
            state.model_vars = values(self.model.variables)
            state.optimizer_vars = values(self.model.optimizer.variables)
            trainstate.save(resume, state)
            pause_point("epoch-saved")

    keep = keep_best(state, resume / "best-scratch.keras")
    schedule = [plateau, ResumePlateau()] if mcfg.lr_schedule == "plateau" else []
    return [randomness, keep, *schedule, SaveState()]


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def progress_line(name: str, total: int, rows: list[dict[str, Any]]) -> str:
    """One line on the terminal per finished epoch: where the run is, how it does, when it will end. The time
    left is the mean epoch time of the current phase times the epochs to go (B's unfrozen phase is slower than
    its frozen one, so a frozen-phase estimate is low)."""
    row = rows[-1]
    phase = [r["epoch_time_s"] for r in rows if r["phase"] == row["phase"]]
    left = sum(phase) / len(phase) * (total - row["epoch"])
    where = f"{name}: epoch {row['epoch']}/{total}" + (
        "" if row["phase"] == "train" else f" ({row['phase']})"
    )
    how = f"val age MAE {row.get('val_age_mae', float('nan')):.2f}"
    how += f", gender {percent(row.get('val_gender_accuracy', float('nan')))}"
    when = f"{row['epoch_time_s']:.1f} s/epoch, " + (
        "done" if row["epoch"] >= total else f"~{_duration(left)} left"
    )
    return f"{where}, {how}, {when}"


def epoch_progress(name: str, total: int, state: TrainingState):
    """After each epoch's state is written: its progress line on the terminal (and in the log)."""
    import keras

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            say(progress_line(name, total, state.rows))

    return Progress()


def replay_tensorboard(folder: str, rows: list[dict[str, Any]]) -> None:
    """The epochs a resumed run finished before it was stopped, written into its TensorBoard folder again as
    Keras' callback writes them (`epoch_<metric>` by epoch, train/ and validation/): Snakemake empties a
    job's log folders before it reruns the job, so they would be missing from the curves."""
    import tensorflow as tf

    writers = {part: tf.summary.create_file_writer(f"{folder}/{part}") for part in ("train", "validation")}
    for row in rows:
        step = row["epoch"] - 1
        with writers["train"].as_default():
            for m in HISTORY_METRICS:
                tf.summary.scalar(f"epoch_{m}", row[m], step=step)
            tf.summary.scalar("epoch_learning_rate", row["lr"], step=step)
        with writers["validation"].as_default():
            for m in HISTORY_METRICS:
                tf.summary.scalar(f"epoch_{m}", row[f"val_{m}"], step=step)
    for w in writers.values():
        w.close()
