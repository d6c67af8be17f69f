"""Evaluate a trained model on one split: `predictions.csv` and `metrics.json`.

Metrics: gender accuracy, age MAE and RMSE, MAE per age bin, per gender and per race, the gender
confusion matrix, and the trivial baselines (predict the training mean age; the training majority gender).
With `n_boot` resamples, every metric gets its bootstrap interval (`ci`), the gender output its calibration
(expected calibration error, reliability diagram), and the largest gaps between races and between genders
their simultaneous intervals (`gaps`).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from . import uncertainty
from .fileio import atomic_path, setup_logging, write_json
from .inference import GENDER_THRESHOLD, load_keras_model, predict_batches
from .labeltable import GENDERS, RACES, read_labels
from .step import run

log = logging.getLogger("utkface.evaluate")


def bin_labels(edges: list[int]) -> list[str]:
    return [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(edges)]


def _group(df: pd.DataFrame, key: pd.Series, names: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for code, name in enumerate(names):
        part = df[key == code]
        if len(part):
            out[name] = {
                "n": len(part),
                "age_mae": float(part["abs_err"].mean()),
                "gender_accuracy": float(part["correct"].mean()),
            }
    return out


def compute_metrics(
    pred: pd.DataFrame,
    train_labels: pd.DataFrame,
    age_bins: list[int],
    n_boot: int = 0,
    seed: int = 0,
    confidence: float = uncertainty.CONFIDENCE,
) -> dict[str, Any]:
    """`pred` has columns age, gender, race, pred_age, gender_prob (one row per image)."""
    df = pred.copy()
    df["pred_gender"] = (df["gender_prob"] >= GENDER_THRESHOLD).astype(int)
    df["abs_err"] = (df["pred_age"] - df["age"]).abs()
    df["sq_err"] = (df["pred_age"] - df["age"]) ** 2
    df["correct"] = (df["pred_gender"] == df["gender"]).astype(float)
    bins = pd.cut(df["age"], bins=age_bins, right=False, labels=False)
    cm = pd.crosstab(df["gender"], df["pred_gender"]).reindex(index=[0, 1], columns=[0, 1], fill_value=0)
    mean_age = float(train_labels["age"].mean())
    majority = int(train_labels["gender"].mode().min())
    metrics = {
        "n": len(df),
        "gender_accuracy": float(df["correct"].mean()),
        "age_mae": float(df["abs_err"].mean()),
        "age_rmse": float(np.sqrt(((df["pred_age"] - df["age"]) ** 2).mean())),
        "age_bias": float((df["pred_age"] - df["age"]).mean()),
        "by_age_bin": _group(df, bins, bin_labels(age_bins)),
        "by_gender": _group(df, df["gender"], list(GENDERS)),
        "by_race": _group(df, df["race"], list(RACES)),
        "confusion": {
            "labels": list(GENDERS),
            "rows": "true",
            "columns": "predicted",
            "matrix": cm.to_numpy().tolist(),
        },
        "baselines": {
            "mean_age": mean_age,
            "age_mae": float((df["age"] - mean_age).abs().mean()),
            "majority_gender": GENDERS[majority],
            "gender_accuracy": float((df["gender"] == majority).mean()),
        },
    }
    if n_boot:
        metrics.update(_uncertainty(df, bins, age_bins, n_boot, seed, confidence))
    return metrics


def _uncertainty(df, bins, age_bins, n_boot, seed, confidence) -> dict[str, Any]:
    """Intervals of every metric, calibration of p(female), and the largest group gaps."""
    groups = {
        "by_age_bin": bins.map(dict(enumerate(bin_labels(age_bins)))),
        "by_gender": df["gender"].map(dict(enumerate(GENDERS))),
        "by_race": df["race"].map(dict(enumerate(RACES))),
    }
    ci = uncertainty.metric_intervals(df, groups, n_boot, seed, confidence)
    gaps = {}
    for grouping in ("by_race", "by_gender"):
        for metric, col in (("age_mae", "abs_err"), ("gender_accuracy", "correct")):
            gap = uncertainty.largest_gap(df[col].to_numpy(), groups[grouping], n_boot, seed, confidence)
            if gap is not None:
                gaps[f"{grouping}_{metric}"] = gap
    return {
        "ci": {"confidence": confidence, "resamples": n_boot, "seed": seed, **ci},
        "calibration": uncertainty.expected_calibration_error(df["gender_prob"], df["gender"]),
        "gaps": gaps,
    }


def predict(
    model_path: str | os.PathLike, images: np.ndarray, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """(predicted ages, gender probabilities) of the model saved at `model_path`, in batches."""
    return predict_batches(load_keras_model(model_path), images, batch_size)


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--train-split", required=True, help="for the trivial baselines")
    p.add_argument("--age-bins", type=lambda s: [int(x) for x in s.split(",")], required=True)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--bootstrap", type=int, default=uncertainty.N_BOOT, help="resamples; 0 = no intervals")
    p.add_argument("--confidence", type=float, default=uncertainty.CONFIDENCE)
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples")
    p.add_argument(
        "--tag", nargs=4, metavar=("MODEL", "SEED", "SPLIT", "VARIANT"), help="recorded in metrics.json"
    )
    p.add_argument("--predictions", required=True)
    p.add_argument("--metrics", required=True)
    a = p.parse_args(argv)
    setup_logging()
    labels = read_labels(a.split)
    images = np.load(a.images, mmap_mode="r")
    if len(images) != len(labels):
        raise SystemExit(f"ERROR: {a.images} has {len(images)} rows but {a.split} has {len(labels)}")
    ages, probs = predict(a.model, images, a.batch_size)
    pred = labels[["path", "age", "gender", "race"]].assign(
        pred_age=ages, gender_prob=probs, pred_gender=(probs >= GENDER_THRESHOLD).astype(int)
    )
    metrics = compute_metrics(pred, read_labels(a.train_split), a.age_bins, a.bootstrap, a.seed, a.confidence)
    with atomic_path(a.predictions, ".csv") as tmp:
        pred.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
    if a.tag:
        metrics = {
            "model": a.tag[0],
            "seed": int(a.tag[1]),
            "split": a.tag[2],
            "variant": a.tag[3],
            **metrics,
        }
    write_json(a.metrics, metrics)
    log.info(
        "%s on %s: gender accuracy %.4f (baseline %.4f), age MAE %.3f (baseline %.3f)",
        a.model,
        a.split,
        metrics["gender_accuracy"],
        metrics["baselines"]["gender_accuracy"],
        metrics["age_mae"],
        metrics["baselines"]["age_mae"],
    )


if __name__ == "__main__":
    run(main)
