"""The whole state of a training run after a finished epoch, as one file that cannot tear.

`state-EEEEE.npz` in the resume folder holds the model's variables (weights, BatchNorm statistics, seed
generators), the optimizer's (step count, learning rate, moments), the epoch and phase, the history so far,
the ReduceLROnPlateau counters, the best validation loss with its epoch and the best model's `.keras` bytes.
It is written beside its place and renamed into it, so a kill leaves either the new state or none of it; the
previous state is kept until the new one is in place, and older ones are removed. A resumed run reads the
newest state that loads whole and belongs to the same run, or starts clean.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .fileio import atomic_path
from .pausepoints import pause_point

FORMAT = 1
_NAME = re.compile(r"^state-(\d{5})\.npz$")


@dataclass
class TrainingState:
    run_key: str
    epoch: int = 0  # epochs finished
    phase: str = ""  # the phase of the last finished epoch
    rows: list[dict[str, Any]] = field(default_factory=list)
    best_val_loss: float | None = None
    best_epoch: int | None = None
    best_model: bytes = b""
    plateau: dict[str, Any] = field(default_factory=dict)  # best, wait, cooldown_counter
    model_vars: list[np.ndarray] = field(default_factory=list)
    optimizer_vars: list[np.ndarray] = field(default_factory=list)


def run_key(model: str, seed: int, cfg: dict[str, Any]) -> str:
    """What a state must match to be resumed: a state of another model, seed or configuration is not."""
    text = json.dumps({"model": model, "seed": seed, "config": cfg}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _states(resume: Path) -> list[tuple[int, Path]]:
    found = [(int(m[1]), p) for p in resume.glob("state-*.npz") if (m := _NAME.match(p.name))]
    return sorted(found, reverse=True)


def save(resume: Path, state: TrainingState) -> Path:
    """Write `state` as the newest state file; then drop all but it and the one before it."""
    arrays_of = ("best_model", "model_vars", "optimizer_vars")
    meta = {k: v for k, v in state.__dict__.items() if k not in arrays_of}
    arrays = {f"m{i}": a for i, a in enumerate(state.model_vars)}
    arrays |= {f"o{i}": a for i, a in enumerate(state.optimizer_vars)}
    arrays["best_model"] = np.frombuffer(state.best_model, dtype=np.uint8)
    arrays["meta"] = np.array(json.dumps({"format": FORMAT, **meta}))
    path = resume / f"state-{state.epoch:05d}.npz"
    with atomic_path(path, ".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        pause_point("state-written")
    pause_point("state-renamed")
    for _, old in _states(resume)[2:]:
        old.unlink(missing_ok=True)
    return path


def _read(path: Path, key: str) -> TrainingState:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.pop("format") != FORMAT:
            raise ValueError("written by another version of the workflow")
        if meta["run_key"] != key:
            raise ValueError("written by a run of another model, seed or configuration")
        n_model = sum(1 for k in z.files if re.fullmatch(r"m\d+", k))
        n_opt = sum(1 for k in z.files if re.fullmatch(r"o\d+", k))
        return TrainingState(
            **meta,
            best_model=z["best_model"].tobytes(),
            model_vars=[z[f"m{i}"] for i in range(n_model)],
            optimizer_vars=[z[f"o{i}"] for i in range(n_opt)],
        )


def load(resume: Path, key: str) -> tuple[TrainingState | None, list[str]]:
    """(the newest complete state of this run, or None; why each newer file was passed over)."""
    skipped = []
    for _, path in _states(resume):
        try:
            return _read(path, key), skipped
        except Exception as err:  # noqa: BLE001 - any unreadable state means the same: try the one before
            skipped.append(f"{path.name}: {err}")
    return None, skipped


def clear(resume: Path) -> None:
    """Remove everything in the resume folder (left by another run or a kill), keeping the folder."""
    if resume.exists():
        shutil.rmtree(resume)
    resume.mkdir(parents=True)
