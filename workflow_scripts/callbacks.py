"""Keras callbacks of a training run and the state that lets a killed run resume where it stopped.

The resume folder holds `history.jsonl` (one line per finished epoch), `best.keras` + `best.json` (the
best checkpoint and its score), Keras' BackupAndRestore backups per phase, and a marker per finished phase.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from .fileio import atomic_path, write_json

log = logging.getLogger("utkface.train")

HISTORY_METRICS = ["loss", "age_loss", "gender_loss", "age_mae", "gender_accuracy"]
HISTORY_COLUMNS = (
    ["epoch", "phase", "lr"]
    + HISTORY_METRICS
    + [f"val_{m}" for m in HISTORY_METRICS]
    + ["epoch_time_s", "trainable_params"]
)


def read_history_rows(path: Path) -> list[dict[str, Any]]:
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
    alone. Keras' backups hold no seed-generator state, so without this a resumed run would draw other
    random numbers than an uninterrupted one."""
    import keras

    class EpochRandomness(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            data_epoch.assign(epoch)
            for var, first in states:
                # the second word counts draws within the epoch (one per batch): 2**20 leave room enough
                var.assign([first, epoch << 20])

    return EpochRandomness()


def replay_plateau(plateau, done: list[dict[str, Any]], lr_now: float) -> None:
    """Bring a fresh ReduceLROnPlateau (mode min) to the state it had after the `done` history rows, as
    its on_epoch_end would have: an epoch reduced the rate if the next epoch's (or the restored) rate is
    lower."""
    plateau.best, plateau.wait, plateau.cooldown_counter = None, 0, 0
    if plateau.monitor_op is None:
        plateau._set_monitor_op()  # Keras' own comparison (it also fixes the sign of min_delta)
    lrs = [r["lr"] for r in done[1:]] + [lr_now] if done else []
    for row, next_lr in zip(done, lrs, strict=True):
        if plateau.cooldown_counter > 0:
            plateau.cooldown_counter -= 1
            plateau.wait = 0
        if bool(plateau._is_improvement(row["val_loss"], plateau.best)):
            plateau.best, plateau.wait = row["val_loss"], 0
        elif plateau.cooldown_counter <= 0:
            plateau.wait += 1
            if plateau.wait >= plateau.patience and next_lr < row["lr"]:
                plateau.cooldown_counter, plateau.wait = plateau.cooldown, 0


def phase_callbacks(
    resume: Path,
    phase: dict[str, Any],
    mcfg: dict[str, Any],
    rows: list[dict[str, Any]],
    checkpoint,
    randomness,
) -> list:
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
        """ReduceLROnPlateau forgets its state at every fit(); replay it over the epochs this phase already
        finished. Done when the first epoch begins, once Keras' backup has said where the run resumes:
        an epoch logged by a killed run but not backed up is about to be redone and must not count."""

        def __init__(self, plateau):
            super().__init__()
            self.plateau = plateau
            self.pending = True

        def on_epoch_begin(self, epoch, logs=None):
            if self.pending:
                self.pending = False
                done = [r for r in rows if r["phase"] == phase["name"] and r["epoch"] <= epoch]
                lr_now = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
                replay_plateau(self.plateau, done, lr_now)

    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss",
        factor=mcfg["lr_factor"],
        patience=mcfg["lr_patience"],
        min_lr=mcfg["min_lr"],
        verbose=1,
    )

    class AtomicBackup(keras.callbacks.BackupAndRestore):
        """Keras' backup writes the weights in place, then the epoch beside them: a kill in between (or a
        cut HDF5 file that still loads) resumed from weights that did not match their epoch. Each file is
        written beside its place and renamed into it, weights first, so the two differ only within
        microseconds."""

        def _save_model(self):
            os.makedirs(self.backup_dir, exist_ok=True)
            for src, dst in ((self._weights_path, self._prev_weights_path),
                             (self._training_metadata_path, self._prev_training_metadata_path)):  # fmt: skip
                if os.path.exists(src):
                    shutil.copyfile(src, dst)
            with atomic_path(self._weights_path, ".weights.h5") as tmp:
                self.model.save_weights(tmp, overwrite=True)
            with atomic_path(self._training_metadata_path, ".json") as tmp:
                tmp.write_text(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))

    # delete_checkpoint=False: a run killed after its last epoch must not redo the phase.
    # double_checkpoint: the previous backup stays beside the latest, for a latest that cannot be read.
    backup = AtomicBackup(
        str(resume / f"backup_{phase['name']}"), delete_checkpoint=False, double_checkpoint=True
    )
    return [randomness, EpochLog(), checkpoint, plateau, RestorePlateau(plateau), backup]
