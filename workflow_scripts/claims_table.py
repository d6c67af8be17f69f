"""The claims table: for each claim of the grid, each metric it is judged on, the effect of its variant
(mean over seeds of variant - baseline), its two-level paired bootstrap interval and a verdict; then the
study-wide claims (B against A, epoch-to-epoch variation, training time, data size) and the data-size
curve.

Per-image metrics come from the test predictions of every run (the same test images in the same order),
per-run ones from train_info.json and history.csv. Units: years for age MAE, percentage points for
gender accuracy (so that an effect of 1.0 reads "one point"), epochs, parameters.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import claims_stats as cs
from .comparison import neutral
from .fileio import atomic_path, setup_logging
from .step import run

log = logging.getLogger("utkface.claims")

# the study's side of a "same time" claim: B's time within this factor of A's, either way
TIME_MARGIN = 1.25
QUOTES = {
    "b_beats_a": "The pre-trained CNN outperforms the custom CNN when comparing the results of the 'best "
    "model'",
    "b_less_variance": "there is less variance from epoch to epoch in the pre-trained model",
    "same_train_time": "both models take about the same amount of time to train",
    "data_limited": "The limiting factor of both models appeared to be the 5000 image samples",
}
COLUMNS = [
    "claim",
    "model",
    "metric",
    "unit",
    "quote",
    "changed",
    "study_says",
    "baseline",
    "variant",
    "effect",
    "lo",
    "hi",
    "p_better",
    "seeds",
    "n_images",
    "verdict",
    "note",
]
# per-image metrics: (values from a predictions table, unit, higher is better)
PER_IMAGE: dict[str, tuple[Callable[[pd.DataFrame], np.ndarray], str, bool]] = {
    "age_mae": (lambda p: np.abs(p["pred_age"] - p["age"]).to_numpy(float), "years", False),
    "gender_accuracy": (lambda p: 100.0 * (p["pred_gender"] == p["gender"]).to_numpy(float), "points", True),
}
PER_RUN = {"best_epoch": ("epochs", False), "trainable_params": ("parameters", False)}


class Run:
    """One training's files, read: test predictions, train_info, history."""

    def __init__(self, predictions: str, info: str, history: str) -> None:
        self.pred = pd.read_csv(predictions)
        self.info = json.loads(Path(info).read_text())
        self.history = pd.read_csv(history)
        self.source = predictions


def per_image(runs: list[Run], metric: str, paths: list[str] | None = None) -> np.ndarray:
    """(seeds, images) values of a per-image metric; every run must score the same test images (`paths`,
    or the first run's) in the same order, or nothing is paired."""
    first = paths if paths is not None else runs[0].pred["path"].tolist()
    for r in runs:
        if r.pred["path"].tolist() != first:
            raise ValueError(
                f"{r.source} scores other test images than {runs[0].source}: rerun its evaluation"
            )
    return np.stack([PER_IMAGE[metric][0](r.pred) for r in runs])


def jumps(run: Run, column: str) -> float:
    """Epoch-to-epoch variation of a validation curve, from the epoch after the first fifth (the first
    epochs' fall is learning, not jumping) and after a frozen phase (unfreezing is one step, not noise);
    NaN when fewer than 3 epochs are left."""
    h = run.history
    start = max(1, len(h) // 5)
    if "phase" in h and (h["phase"] == "frozen").any():
        start = max(start, int((h["phase"] == "frozen").sum()))
    curve = h[column].to_numpy(float)[start:] * (100.0 if "accuracy" in column else 1.0)
    return cs.curve_variance(curve) if len(curve) >= 3 else float("nan")


def _flip(verdict: str, study_says: str) -> str:
    """`cs.verdict` reads "the variant is worse" as the study's side; a claim that the variant is better
    swaps the two verdicts."""
    if study_says == "variant_better":
        return {cs.SUPPORTED: cs.CONTRADICTED, cs.CONTRADICTED: cs.SUPPORTED}.get(verdict, verdict)
    return verdict


def effect_row(
    metric: str,
    base: list[Run],
    var: list[Run],
    study_says: str,
    boot: Mapping[str, Any],
    values: Callable[[Run], float] | None = None,
    unit: str = "",
    higher: bool = False,
) -> dict:
    """The effect of `var` against `base` (paired by seed) on `metric`, with its interval and verdict."""
    if metric in PER_IMAGE:
        b = per_image(base, metric)
        v = per_image(var, metric, base[0].pred["path"].tolist())
        unit, higher = PER_IMAGE[metric][1:]
        res = cs.paired_effect(b, v, higher_is_better=higher, **boot)
        if unit == "points" and res["lo"] is not None:  # the few-seed widening may pass +-100 points
            res["lo"], res["hi"] = max(res["lo"], -100.0), min(res["hi"], 100.0)
        means = b.mean(), v.mean()
    else:
        if values is None:
            unit, higher = PER_RUN[metric]
            values = lambda r: float(r.info[metric])  # noqa: E731
        b, v = np.array([values(r) for r in base]), np.array([values(r) for r in var])
        if not np.isfinite(np.concatenate([b, v])).all():
            return _not_measured(metric, unit, study_says, len(base), "too few epochs to measure")
        res = cs.paired_effect_scalar(b, v, higher_is_better=higher, **boot)
        means = b.mean(), v.mean()
    return {
        "metric": metric,
        "unit": unit,
        "study_says": study_says,
        "baseline": means[0],
        "variant": means[1],
        "effect": res["effect"],
        "lo": res["lo"],
        "hi": res["hi"],
        "p_better": res["p_better"],
        "seeds": res["k_seeds"],
        "n_images": res.get("n_images"),
        "verdict": _flip(cs.verdict(res), study_says),
    }


def _not_measured(metric: str, unit: str, study_says: str, k: int, why: str) -> dict:
    nan = float("nan")
    return {
        "metric": metric,
        "unit": unit,
        "study_says": study_says,
        "baseline": nan,
        "variant": nan,
        "effect": nan,
        "lo": None,
        "hi": None,
        "p_better": None,
        "seeds": k,
        "n_images": None,
        "verdict": f"{cs.NOT_SHOWN} ({why})",
    }


def _hardware(r: Run) -> tuple:
    return r.info["host"], tuple(r.info["gpus"])


def time_ratio_row(base: list[Run], var: list[Run], boot: Mapping[str, Any]) -> dict:
    """Training time of B over A's, paired by seed, on the log scale (a ratio's interval), judged as an
    equivalence: supported when the interval lies within TIME_MARGIN either way, contradicted when it lies
    wholly outside, not shown otherwise."""
    machines = {_hardware(r) for r in [*base, *var]}
    if len(machines) > 1:
        return _not_measured("train_time", "ratio", "same", len(base), "trained on different hardware")
    t = [np.log([r.info["train_time_s"] for r in arm]) for arm in (base, var)]
    res = cs.paired_effect_scalar(t[0], t[1], higher_is_better=False, **boot)
    lo, hi = (None, None) if res["lo"] is None else (float(np.exp(res["lo"])), float(np.exp(res["hi"])))
    if lo is None:
        verdict = cs.ONE_SEED
    elif lo >= 1 / TIME_MARGIN and hi <= TIME_MARGIN:
        verdict = cs.SUPPORTED
    elif lo > TIME_MARGIN or hi < 1 / TIME_MARGIN:
        verdict = cs.CONTRADICTED
    else:
        verdict = cs.NOT_SHOWN
    return {
        "metric": "train_time",
        "unit": "ratio",
        "study_says": "same",
        "baseline": np.exp(t[0]).mean(),
        "variant": np.exp(t[1]).mean(),
        "effect": float(np.exp(res["effect"])),
        "lo": lo,
        "hi": hi,
        "p_better": None,
        "seeds": res["k_seeds"],
        "n_images": None,
        "verdict": verdict,
        "note": f"supported when B's time is within {TIME_MARGIN}x of A's either way, on this machine",
    }


def describe(variant: Mapping[str, Any], prefix: str = "") -> str:
    """A variant's overrides as `key.sub: value` pairs."""
    parts = []
    for key, value in variant.items():
        if isinstance(value, Mapping):
            parts.append(describe(value, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key}: {json.dumps(value)}")
    return "; ".join(parts)


def _arm(runs: Mapping[tuple, Run], model: str, variant: str, seeds: list[int]) -> list[Run]:
    return [runs[(model, variant, s)] for s in seeds]


def claim_rows(spec: Mapping[str, Any], runs: Mapping[tuple, Run], boot: Mapping[str, Any]) -> list[dict]:
    """One row per (claim of the claims file, metric)."""
    rows = []
    for c in spec["claims"]:
        base = _arm(runs, c["model"], spec["baseline"], spec["seeds"])
        var = _arm(runs, c["model"], c["id"], spec["seeds"])
        for metric in c["metrics"]:
            row = effect_row(metric, base, var, c["study_says"], boot)
            rows.append(
                {
                    "claim": c["id"],
                    "model": c["model"],
                    "quote": c["quote"],
                    "changed": describe(c["variant"]),
                    **row,
                }
            )
    return rows


def study_rows(spec: Mapping[str, Any], runs: Mapping[tuple, Run], boot: Mapping[str, Any]) -> list[dict]:
    """The study-wide claims, from the baselines of both models (and the data-size curve's runs)."""
    a, b = (_arm(runs, m, spec["baseline"], spec["seeds"]) for m in ("A", "B"))
    common = {"model": "A vs B", "changed": "Model B (variant) against Model A (baseline)"}
    rows = [
        {
            "claim": "study_b_beats_a",
            "quote": QUOTES["b_beats_a"],
            **common,
            **effect_row(m, a, b, "variant_better", boot),
        }
        for m in PER_IMAGE
    ]
    for col, unit in (("val_age_mae", "years/epoch"), ("val_gender_accuracy", "points/epoch")):
        row = effect_row(f"{col}_jumps", a, b, "variant_better", boot, lambda r, c=col: jumps(r, c), unit)
        rows.append({"claim": "study_b_less_variance", "quote": QUOTES["b_less_variance"], **common, **row})
    rows.append(
        {
            "claim": "study_same_train_time",
            "quote": QUOTES["same_train_time"],
            **common,
            **time_ratio_row(a, b, boot),
        }
    )
    return rows + data_limited_rows(spec, runs, boot)


def data_limited_rows(spec: Mapping[str, Any], runs: Mapping[tuple, Run], boot: Mapping[str, Any]) -> list:
    """More images than the study's against the study's (the largest size above it; without one, the
    study's against the largest size below it: is the curve still falling there?)."""
    others = [(n, v) for n, v in spec["curve"] if v != spec["baseline"]]
    if not others:
        return []
    above = [(n, v) for n, v in others if n > spec["n_train"]]
    n, v = max(above) if above else max(others)
    says = "variant_better" if above else "baseline_better"
    rows = []
    for m in ("A", "B"):
        base, var = _arm(runs, m, spec["baseline"], spec["seeds"]), _arm(runs, m, v, spec["seeds"])
        for metric in PER_IMAGE:
            rows.append(
                {
                    "claim": "study_data_limited",
                    "model": m,
                    "quote": QUOTES["data_limited"],
                    "changed": f"training images: {spec['n_train']} -> {n}",
                    **effect_row(metric, base, var, says, boot),
                }
            )
    return rows


def curve_rows(spec: Mapping[str, Any], runs: Mapping[tuple, Run], boot: Mapping[str, Any]) -> list[dict]:
    """The data-size curve: each model, size and metric, its mean over seeds and two-level interval."""
    rows = []
    for m in ("A", "B"):
        for n, v in spec["curve"]:
            arm = _arm(runs, m, v, spec["seeds"])
            for metric, (_, unit, higher) in PER_IMAGE.items():
                values = per_image(arm, metric)
                res = cs.paired_effect(np.zeros_like(values), values, higher_is_better=higher, **boot)
                if res["lo"] is not None:  # the few-seed widening may reach past what the metric can be
                    top = 100.0 if unit == "points" else np.inf
                    res["lo"], res["hi"] = (
                        float(np.clip(res["lo"], 0, top)),
                        float(np.clip(res["hi"], 0, top)),
                    )
                rows.append(
                    {
                        "model": m,
                        "n_train": n,
                        "metric": metric,
                        "unit": unit,
                        "mean": res["effect"],
                        "lo": res["lo"],
                        "hi": res["hi"],
                        "seeds": res["k_seeds"],
                    }
                )
    return rows


def claims_table(
    spec: Mapping[str, Any], runs: Mapping[tuple, Run], boot: Mapping[str, Any], b_note: str = ""
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(claims, data-size curve) tables; `b_note` is said on every row that involves Model B."""
    table = pd.DataFrame(claim_rows(spec, runs, boot) + study_rows(spec, runs, boot), columns=COLUMNS)
    if b_note:
        has_b = table["model"].str.contains("B")
        table.loc[has_b, "note"] = [
            f"{b_note}; {n}" if isinstance(n, str) and n else b_note for n in table.loc[has_b, "note"]
        ]
    curve = pd.DataFrame(
        curve_rows(spec, runs, boot),
        columns=["model", "n_train", "metric", "unit", "mean", "lo", "hi", "seeds"],
    )
    return table, curve


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> None:
    out = table.copy()
    for col in ("quote", "changed", "note"):
        out[col] = out[col].map(neutral)
    with atomic_path(path, ".csv") as tmp:
        out.to_csv(tmp, index=False, lineterminator="\n")


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--grid", required=True, help="the grid's spec as JSON (claims_grid.Grid.spec)")
    p.add_argument("--runs", nargs="+", required=True, help="MODEL/VARIANT/SEED of every run, in order")
    p.add_argument("--predictions", nargs="+", required=True, help="test predictions.csv, one per run")
    p.add_argument("--info", nargs="+", required=True, help="train_info.json, one per run")
    p.add_argument("--history", nargs="+", required=True, help="history.csv, one per run")
    p.add_argument("--bootstrap", type=int, required=True)
    p.add_argument("--confidence", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--b-note", default="", help="said on every row that involves Model B")
    p.add_argument("--csv", required=True)
    p.add_argument("--data-size", required=True, help="the data-size curve's CSV")
    a = p.parse_args(argv)
    setup_logging()
    if not len(a.runs) == len(a.predictions) == len(a.info) == len(a.history):
        p.error("--runs, --predictions, --info and --history need one entry per run each")
    runs = {}
    for key, *files in zip(a.runs, a.predictions, a.info, a.history, strict=True):
        m, v, s = key.split("/")
        runs[(m, v, int(s))] = Run(*files)
    boot = {"n_boot": a.bootstrap, "confidence": a.confidence, "seed": a.seed}
    table, curve = claims_table(json.loads(a.grid), runs, boot, a.b_note)
    write_table(table, a.csv)
    with atomic_path(a.data_size, ".csv") as tmp:
        curve.to_csv(tmp, index=False, lineterminator="\n")
    counts = table.drop_duplicates("claim")["verdict"].value_counts().to_dict()
    log.info("%d claims (%d rows) from %d runs: %s", table["claim"].nunique(), len(table), len(runs), counts)


if __name__ == "__main__":
    run(main)
