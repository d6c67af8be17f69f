"""Train Model A or B on the preprocessed arrays; keep the best epoch by validation loss.

Outputs: `model.keras` (best checkpoint), `history.csv` (every epoch of every phase, once),
`train_info.json`. A run that is killed resumes from its last finished epoch when started again: its state
lives in the resume folder its rule names, which is not a declared output, so Snakemake keeps it.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from . import trainstate
from .callbacks import (
    HISTORY_COLUMNS,
    assign,
    epoch_progress,
    epoch_randomness,
    phase_callbacks,
    replay_tensorboard,
    seed_states,
)
from .datasets import make_datasets
from .fileio import atomic_path, setup_logging, write_json
from .labeltable import read_labels
from .provenance import workflow_commit
from .settings import ModelA, ModelCommon, Run, for_training
from .step import run, say
from .tfsetup import NoGPUError, compute_policy, configure_tensorflow, cpu_has_amx, visible_gpus
from .trainstate import TrainingState

log = logging.getLogger("utkface.train")

__all__ = ["HISTORY_COLUMNS", "epoch_plan", "make_datasets", "train", "write_outputs"]


def epoch_plan(run: Run) -> list[dict[str, Any]]:
    """The training phases: [{name, until_epoch, optimizer, lr, ...}] with continuous epoch counts."""
    total, b = run.epochs, run.model
    if isinstance(b, ModelA):
        return [{"name": "train", "until": total, "optimizer": "adam", "lr": b.learning_rate}]
    frozen = min(b.frozen_epochs, total)
    phases = []
    if frozen:
        phases.append(
            {"name": "frozen", "until": frozen, "optimizer": "rmsprop", "lr": b.frozen_learning_rate}
        )
    if total > frozen:
        phases.append(
            {
                "name": "unfrozen",
                "until": total,
                "optimizer": b.unfrozen_optimizer,
                "lr": b.learning_rate,
                "weight_decay": b.weight_decay,
                "unfreeze": b.unfreeze_layers,
            }
        )
    return phases


def _optimizer(phase: dict[str, Any]):
    import keras

    if phase["optimizer"] == "adam":  # A; B after unfreezing in its variant without weight decay
        return keras.optimizers.Adam(phase["lr"])
    if phase["optimizer"] == "rmsprop":
        return keras.optimizers.RMSprop(phase["lr"])
    return keras.optimizers.AdamW(phase["lr"], weight_decay=phase["weight_decay"])


def _runtime(s: Run, seed: int, threads: int | None, require_gpu: bool):
    """Seed, determinism, threads, precision and distribution strategy, before any model is built."""
    import keras
    import tensorflow as tf

    gpus = visible_gpus(require_gpu)
    deterministic = s.train.deterministic
    deterministic = (not gpus) if deterministic is None else deterministic
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    try:
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        if deterministic:
            # Two ops at once make oneDNN split a kernel over however many threads are free, so the sums
            # change from one process to the next (at 128 px, not at 32): one op at a time is reproducible,
            # and no slower (bench/bench_cpu_training.py).
            tf.config.threading.set_inter_op_parallelism_threads(1)
        elif threads:
            tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:  # TensorFlow already ran in this process (a notebook, a test session)
        log.warning("TensorFlow is already initialised: its thread counts stay as they are")
    policy = compute_policy(s.train.precision, s.name, bool(gpus), s.train.mixed_precision, cpu_has_amx())
    keras.mixed_precision.set_global_policy(policy)
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    return gpus, deterministic, policy, strategy


def _build(s: Run, strategy, seed: int, weights: str | None, train_split: str):
    from . import models

    with strategy.scope():
        if isinstance(s.model, ModelA):
            net = models.build_model_a(s.image_size, s.model, s.augmentation, seed)
        else:
            net = models.build_model_b(s.image_size, s.model, s.augmentation, seed, weights)
    # Start the linear age output at the training mean age (bias only, no extra parameter): otherwise
    # the first epochs are spent learning an offset of ~35 years from 0.
    net.get_layer("age").bias.assign([float(read_labels(train_split)["age"].mean())])
    return net


def _resume_state(resume: Path, key: str, total: int) -> TrainingState:
    """The newest complete training state of this run, or a clean start; says which on the terminal."""
    state, skipped = trainstate.load(resume, key)
    for line in skipped:
        say(f"training state passed over: {line}")
    if state is None:
        trainstate.clear(resume)
        say(f"training: no saved state in {resume}, starting at epoch 1 of {total}")
        return TrainingState(run_key=key)
    say(
        f"training: resuming from {resume}/state-{state.epoch:05d}.npz, {state.epoch} of {total} epochs"
        f" done (phase {state.phase}, best val_loss {state.best_val_loss})"
    )
    return state


def _run_phases(
    net, plan, mcfg: ModelCommon, strategy, resume: Path, state: TrainingState, inputs, watch: list
) -> None:
    """Fit each phase in turn from the state's epoch on; a phase the state has finished is skipped. `watch`:
    callbacks that only report (progress lines, TensorBoard), called after the state is written."""
    from . import models

    randomness = epoch_randomness(inputs.epoch, seed_states(net))
    if state.model_vars:
        assign(net.variables, state.model_vars, "model variables")
    start = 0
    for phase in plan:
        if phase["until"] <= state.epoch:  # finished before the kill
            start = phase["until"]
            continue
        with strategy.scope():
            if phase.get("unfreeze") is not None:
                models.unfreeze(net, phase["unfreeze"])
            models.compile_model(net, _optimizer(phase), mcfg)
        mid_phase = state.phase == phase["name"] and state.epoch > start
        if mid_phase:  # the optimizer's moments, step count and lr, and the scheduler's counters
            with strategy.scope():
                net.optimizer.build(net.trainable_variables)
            assign(net.optimizer.variables, state.optimizer_vars, "optimizer variables")
        log.info(
            "phase %s: epochs %d-%d, %s lr=%g, %d trainable parameters",
            phase["name"],
            max(start, state.epoch) + 1,
            phase["until"],
            phase["optimizer"],
            phase["lr"],
            models.trainable_params(net),
        )
        resumed_plateau = state.plateau if mid_phase else None
        net.fit(
            inputs.train,
            validation_data=inputs.val,
            initial_epoch=max(start, state.epoch),
            epochs=phase["until"],
            callbacks=[*phase_callbacks(resume, phase, mcfg, state, randomness, resumed_plateau), *watch],
            verbose=2,
        )
        start = phase["until"]


def train(
    model: str,
    cfg: dict[str, Any],
    arrays: dict[str, str],
    splits: dict[str, str],
    resume_dir: str | Path,
    seed: int,
    weights: str | None = None,
    threads: int | None = None,
    require_gpu: bool = False,
    name: str = "",
    tensorboard: str | None = None,
) -> dict[str, Any]:
    """Train `model` ('A' or 'B') with its resume state in `resume_dir`; returns the train_info dict
    (`write_outputs` publishes it with the model and the history). `name` heads the progress lines;
    `tensorboard`: a folder for Keras' TensorBoard events, or None."""
    configure_tensorflow(threads)
    import keras
    import tensorflow as tf

    from . import models

    commit = workflow_commit()  # the code this process imported, not the checkout when it ends
    resume = Path(resume_dir)
    resume.mkdir(parents=True, exist_ok=True)
    s = for_training(cfg, model)
    # the config's train.require_gpu (what the rule passes), or the command line's --require-gpu
    gpus, deterministic, policy, strategy = _runtime(s, seed, threads, require_gpu or s.train.require_gpu)
    mcfg = s.model
    log.info(
        "model %s, seed %d, %d GPU(s), deterministic=%s, precision %s",
        *(model, seed, len(gpus), deterministic, policy),
    )
    batch = mcfg.batch_size * strategy.num_replicas_in_sync
    inputs = make_datasets(arrays, splits, batch, seed, s.train.memory_share)
    log.info("training arrays %s", "read batch by batch from disk" if inputs.streamed else "held in memory")
    net = _build(s, strategy, seed, weights, splits["train"])
    params_at_start = models.trainable_params(net)
    plan = epoch_plan(s)
    # the resolved policy, not the key's `auto`: a run requeued on a CPU without bfloat16 starts anew
    key = trainstate.run_key(model, seed, {**cfg, "compute_policy": policy})
    state = _resume_state(resume, key, plan[-1]["until"])
    watch = [epoch_progress(name or f"{model} seed {seed}", plan[-1]["until"], state)]
    if tensorboard:
        replay_tensorboard(tensorboard, state.rows)
        watch.append(keras.callbacks.TensorBoard(log_dir=tensorboard, write_graph=False, profile_batch=0))
    t0 = time.perf_counter()
    _run_phases(net, plan, mcfg, strategy, resume, state, inputs, watch)
    if state.best_epoch is None:
        raise RuntimeError("no checkpoint was written: validation loss was never finite")
    rows = state.rows
    return {
        "model": model,
        "seed": seed,
        "run_key": state.run_key,
        "epochs_run": len(rows),
        "best_epoch": state.best_epoch,
        "best_val_loss": state.best_val_loss,
        "trainable_params": params_at_start,
        "trainable_params_final": models.trainable_params(net),
        "train_time_s": sum(r["epoch_time_s"] for r in rows),
        "wall_time_this_run_s": time.perf_counter() - t0,
        "phases": plan,
        "deterministic": deterministic,
        "mixed_precision": policy == "mixed_float16",
        "precision": policy,
        "gpus": [g.name for g in gpus],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "image_size": s.image_size,
        "weights": weights or "none",
        "commit": commit,
    }


def write_outputs(
    resume_dir: str | Path, model_path: str, history_path: str, info_path: str, info: dict[str, Any]
) -> None:
    """Publish the outputs of the run's final state atomically, then drop the resume state."""
    import pandas as pd

    resume = Path(resume_dir)
    state, skipped = trainstate.load(resume, info["run_key"])
    if state is None:
        raise RuntimeError(f"{resume}: no complete training state to publish ({'; '.join(skipped)})")
    with atomic_path(history_path, ".csv") as tmp:
        history = pd.DataFrame(state.rows).reindex(columns=HISTORY_COLUMNS)
        history.to_csv(tmp, index=False, lineterminator="\n")
    with atomic_path(model_path, ".keras") as tmp:
        tmp.write_bytes(state.best_model)
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
    p.add_argument("--resume-dir", required=True, help="scratch state that lets a killed run resume")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--require-gpu",
        action="store_true",
        help="fail at once when TensorFlow sees no GPU (as train.require_gpu)",
    )
    p.add_argument(
        "--name", default="", help="the run's name on its progress lines (default: model and seed)"
    )
    p.add_argument("--tensorboard", action="store_true", help="write TensorBoard events (train.tensorboard)")
    p.add_argument("--tensorboard-dir", default="", help="the folder of the TensorBoard events")
    a = p.parse_args(argv)
    setup_logging()
    cfg = json.loads(a.config)
    arrays = {"train": a.train_images, "val": a.val_images}
    splits = {"train": a.train_split, "val": a.val_split}
    try:
        info = train(
            *(
                a.model,
                cfg,
                arrays,
                splits,
                a.resume_dir,
                a.seed,
                a.weights or None,
                a.threads,
                a.require_gpu,
            ),
            name=a.name,
            tensorboard=a.tensorboard_dir if a.tensorboard else None,
        )
    except NoGPUError as e:
        raise SystemExit(f"ERROR: {e}") from None
    write_outputs(a.resume_dir, a.model_out, a.history, a.info, info)
    log.info(
        "best epoch %d of %d, val_loss %.4f", info["best_epoch"], info["epochs_run"], info["best_val_loss"]
    )


if __name__ == "__main__":
    run(main)
