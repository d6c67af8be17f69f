"""Evaluate a trained model on one split: `predictions.csv` and `metrics.json`.

Metrics: gender accuracy, age MAE and RMSE, MAE per age bin, per gender and per race, the gender
confusion matrix, and the trivial baselines (predict the training mean age; the training majority gender).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from .fileio import atomic_path, setup_logging, write_json
from .labels import GENDERS, RACES, read_labels
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


def compute_metrics(pred: pd.DataFrame, train_labels: pd.DataFrame, age_bins: list[int]) -> dict[str, Any]:
    """`pred` has columns age, gender, race, pred_age, gender_prob (one row per image)."""
    df = pred.copy()
    df["pred_gender"] = (df["gender_prob"] >= 0.5).astype(int)
    df["abs_err"] = (df["pred_age"] - df["age"]).abs()
    df["correct"] = (df["pred_gender"] == df["gender"]).astype(float)
    bins = pd.cut(df["age"], bins=age_bins, right=False, labels=False)
    cm = pd.crosstab(df["gender"], df["pred_gender"]).reindex(index=[0, 1], columns=[0, 1], fill_value=0)
    mean_age = float(train_labels["age"].mean())
    majority = int(train_labels["gender"].mode().min())
    return {
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


def predict(
    model_path: str | os.PathLike, images: np.ndarray, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """(predicted ages, gender probabilities), in batches straight from the uint8 (memory-mapped) array."""
    from .tfsetup import configure_tensorflow

    configure_tensorflow()
    import keras

    from . import models  # noqa: F401 - registers the custom layers for loading

    model = keras.models.load_model(model_path)
    ages, probs = [], []
    for start in range(0, len(images), batch_size):
        out = model.predict_on_batch(np.asarray(images[start : start + batch_size], dtype=np.float32))
        ages.append(np.asarray(out["age"]).reshape(-1))
        probs.append(np.asarray(out["gender"]).reshape(-1))
    return np.concatenate(ages), np.concatenate(probs)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--train-split", required=True, help="for the trivial baselines")
    p.add_argument("--age-bins", type=lambda s: [int(x) for x in s.split(",")], required=True)
    p.add_argument("--batch-size", type=int, default=256)
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
        pred_age=ages, gender_prob=probs, pred_gender=(probs >= 0.5).astype(int)
    )
    metrics = compute_metrics(pred, read_labels(a.train_split), a.age_bins)
    with atomic_path(a.predictions, ".csv") as tmp:
        pred.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
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
