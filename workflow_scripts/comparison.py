"""The comparison table (`comparison.csv` / `.html`): our models beside the study's published numbers.

The study's numbers come from a config file (`report.published`), never from code. With several seeds,
each model's numbers are the mean over seeds, with their standard deviation beside them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import yaml

from . import uncertainty
from .fileio import atomic_path, setup_logging, write_json
from .formats import percent
from .step import run

log = logging.getLogger("utkface.comparison")

METRICS = ["val_gender_accuracy", "val_age_mae", "test_gender_accuracy", "test_age_mae"]
BOUNDS = [f"{c}_{side}" for c in METRICS for side in ("low", "high")]
COLUMNS = [
    "model",
    "name",
    "seeds",
    *METRICS,
    *BOUNDS,
    *[f"{c}_std" for c in METRICS],
    "optimism_gender_accuracy",
    "optimism_age_mae",
    "trainable_params",
    "epochs_run",
    "best_epoch",
    "train_time_s",
    "published_val_gender_accuracy",
    "diff_val_gender_accuracy",
    "published_val_gender_accuracy_inside",
    "published_val_age_mae",
    "diff_val_age_mae",
    "published_val_age_mae_inside",
    "published_trainable_params",
    "diff_trainable_params",
]
# integer columns, kept integer (with missing values) through the CSV
INT_COLUMNS = [
    "seeds",
    "trainable_params",
    "epochs_run",
    "best_epoch",
    "published_trainable_params",
    "diff_trainable_params",
]

# text cells, which can hold user strings (names from report.published)
TEXT_COLUMNS = ["model", "name"]
# what makes a spreadsheet read a cell as a formula (OWASP's list), and our own escape mark
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "'")
TEMPLATE = Path(__file__).resolve().parents[1] / "report" / "comparison.html.j2"

# (column, header, format) of the HTML table, in order
HTML_COLUMNS = [
    ("val_gender_accuracy", "Val gender acc.", "pct"),
    ("val_age_mae", "Val age MAE", "num"),
    ("test_gender_accuracy", "Test gender acc.", "pct"),
    ("test_age_mae", "Test age MAE", "num"),
    ("optimism_gender_accuracy", "Val − test acc.", "pp"),
    ("optimism_age_mae", "Val − test MAE", "d"),
    ("trainable_params", "Trainable params", "int"),
    ("epochs_run", "Epochs", "int"),
    ("best_epoch", "Best epoch", "int"),
    ("train_time_s", "Train time (s)", "num"),
    ("published_val_gender_accuracy", "Study: val gender acc.", "pct"),
    ("diff_val_gender_accuracy", "Δ acc.", "pp"),
    ("published_val_age_mae", "Study: val age MAE", "num"),
    ("diff_val_age_mae", "Δ MAE", "d"),
    ("published_trainable_params", "Study: params", "int"),
    ("diff_trainable_params", "Δ params", "dint"),
]


def load_runs(
    infos: list[str | os.PathLike], vals: list[str | os.PathLike], tests: list[str | os.PathLike]
) -> list[dict[str, Any]]:
    """One record per run from its train_info.json and its val and test metrics.json (given in the same
    order); model and seed come from train_info itself."""
    runs = []
    for info, val, test in zip(infos, vals, tests, strict=True):
        meta = json.loads(Path(info).read_text())
        runs.append(
            {
                "model": meta["model"],
                "seed": meta["seed"],
                "info": meta,
                "val": json.loads(Path(val).read_text()),
                "test": json.loads(Path(test).read_text()),
            }
        )
    return runs


def _per_seed(r: dict[str, Any]) -> dict[str, Any]:
    row = {
        "epochs_run": r["info"]["epochs_run"],
        "best_epoch": r["info"]["best_epoch"],
        "train_time_s": r["info"]["train_time_s"],
    }
    for split in ("val", "test"):
        for metric in ("gender_accuracy", "age_mae"):
            row[f"{split}_{metric}"] = r[split][metric]
            lo, hi = r[split].get("ci", {}).get(metric, (np.nan, np.nan))
            row[f"{split}_{metric}_low"], row[f"{split}_{metric}_high"] = lo, hi
    return row


def _model_row(
    model: str, mine: list[dict[str, Any]], published: dict[str, Any], bounds: dict[str, float]
) -> dict[str, Any]:
    """Means over seeds (bootstrap bounds: `bounds`, else a single run's interval, on average), the spread
    over seeds, the validation-test gap, and the study's numbers beside ours."""
    per_seed = pd.DataFrame([_per_seed(r) for r in mine])
    row: dict[str, Any] = {
        "model": model,
        "name": published.get("name", f"Model {model}"),
        "seeds": len(mine),
        "trainable_params": mine[0]["info"]["trainable_params"],
        **{col: float(per_seed[col].mean()) for col in per_seed},
        **bounds,
    }
    for col in METRICS:
        row[f"{col}_std"] = float(per_seed[col].std(ddof=1)) if len(mine) > 1 else float("nan")
    for metric in ("gender_accuracy", "age_mae"):
        row[f"optimism_{metric}"] = row[f"val_{metric}"] - row[f"test_{metric}"]
    for key in ("val_gender_accuracy", "val_age_mae", "trainable_params"):
        pub = published.get(key)
        row[f"published_{key}"] = pub
        row[f"diff_{key}"] = row[key] - pub if pub is not None else None
        if key != "trainable_params" and pub is not None and not np.isnan(row[f"{key}_low"]):
            row[f"published_{key}_inside"] = bool(row[f"{key}_low"] <= pub <= row[f"{key}_high"])
    return row


def comparison(
    runs: list[dict[str, Any]],
    published: dict[str, dict[str, Any]],
    bounds: dict[str, dict[str, float]] | None = None,
) -> pd.DataFrame:
    """One row per model (mean over seeds, *_std beside, bootstrap bounds *_low/*_high: a single run's over
    the images, or `bounds`' two-level ones for a model of several seeds) and one for the trivial
    baselines."""
    rows = []
    for m in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == m]
        rows.append(_model_row(m, mine, published.get(m, {}), (bounds or {}).get(m, {})))
    first = runs[0]
    rows.append(
        {
            "model": "baseline",
            "name": "Trivial baseline (training mean age, majority gender)",
            "seeds": None,
            "val_gender_accuracy": first["val"]["baselines"]["gender_accuracy"],
            "val_age_mae": first["val"]["baselines"]["age_mae"],
            "test_gender_accuracy": first["test"]["baselines"]["gender_accuracy"],
            "test_age_mae": first["test"]["baselines"]["age_mae"],
            "trainable_params": 0,
        }
    )
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for col in INT_COLUMNS:
        table[col] = table[col].astype("Int64")
    return table


def model_difference(
    pred_a: pd.DataFrame, pred_b: pd.DataFrame, n_boot: int, seed: int, confidence: float
) -> dict[str, Any]:
    """A minus B on the same test images, with paired bootstrap intervals: age MAE (negative: A better)
    and gender accuracy (positive: A better)."""
    both = pred_a.merge(pred_b, on="path", suffixes=("_a", "_b"), validate="one_to_one")
    if len(both) != len(pred_a):
        raise ValueError("the two models were not evaluated on the same images")
    out: dict[str, Any] = {"n": len(both), "confidence": confidence, "resamples": n_boot}
    for metric, per_image in (
        ("age_mae", lambda s: (both[f"pred_age_{s}"] - both["age_a"]).abs()),
        ("gender_accuracy", lambda s: (both[f"pred_gender_{s}"] == both["gender_a"]).astype(float)),
    ):
        out[metric] = uncertainty.paired_difference(per_image("a"), per_image("b"), n_boot, seed, confidence)
    return out


SEED_METRICS = ("age_mae", "gender_accuracy")


def _per_image(frames: list[pd.DataFrame], metric: str) -> np.ndarray:
    """(runs, images): each run's absolute age errors, or 1/0 for each gender it got right."""
    if metric == "age_mae":
        return np.stack([(f["pred_age"] - f["age"]).abs().to_numpy(float) for f in frames])
    return np.stack([(f["pred_gender"] == f["gender"]).to_numpy(float) for f in frames])


def model_difference_seeds(
    preds_a: list[pd.DataFrame], preds_b: list[pd.DataFrame], n_boot: int, seed: int, confidence: float
) -> dict[str, Any]:
    """`model_difference` over several seeds: A minus B, the mean over seeds (paired by seed, the same
    images), with a two-level bootstrap interval (seeds, then images)."""
    from .claims_stats import paired_effect

    paths = preds_a[0]["path"].tolist()
    if any(f["path"].tolist() != paths for f in [*preds_a, *preds_b]):
        raise ValueError("the models' seeds were not evaluated on the same images in the same order")
    out: dict[str, Any] = {
        "n": len(paths),
        "confidence": confidence,
        "resamples": n_boot,
        "seeds": len(preds_a),
    }
    for metric in SEED_METRICS:
        a, b = (_per_image(arm, metric) for arm in (preds_a, preds_b))
        res = paired_effect(b, a, higher_is_better=True, n_boot=n_boot, seed=seed, confidence=confidence)
        out[metric] = {"difference": res["effect"], "low": res["lo"], "high": res["hi"]}
    return out


def seed_bounds(
    runs: list[dict[str, Any]],
    preds: dict[str, list[pd.DataFrame]],
    n_boot: int,
    seed: int,
    confidence: float,
) -> dict[str, dict[str, float]]:
    """Per model with several seeds, two-level bootstrap bounds (seeds, then images) of the mean over seeds
    of each val/test metric: training-run noise and test-sample noise together, as the claims' effects
    have. `preds[split]` holds the predictions of `runs`, in the same order. {model: {col_low: .., ..}}."""
    from .claims_stats import paired_effect

    out: dict[str, dict[str, float]] = {}
    for model in dict.fromkeys(r["model"] for r in runs):
        idx = [i for i, r in enumerate(runs) if r["model"] == model]
        if len(idx) < 2:
            continue
        bounds = out.setdefault(model, {})
        for split, frames in preds.items():
            arms = [frames[i] for i in idx]
            if any(f["path"].tolist() != arms[0]["path"].tolist() for f in arms):
                raise ValueError(f"the {split} predictions of Model {model}'s seeds hold other images")
            for metric in SEED_METRICS:
                v = _per_image(arms, metric)
                res = paired_effect(
                    np.zeros_like(v),
                    v,
                    higher_is_better=True,
                    n_boot=n_boot,
                    seed=seed,
                    confidence=confidence,
                )
                bounds[f"{split}_{metric}_low"], bounds[f"{split}_{metric}_high"] = res["lo"], res["hi"]
    return out


def neutral(text: Any) -> Any:
    """A text cell that no spreadsheet runs as a formula: one that starts like one (or with the
    apostrophe that marks this) gets a leading apostrophe, which `_restored` takes off again. A carriage
    return becomes a newline: the CSV writer quotes a field with a newline, not one with a lone \\r."""
    if not isinstance(text, str):
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _restored(text: Any) -> Any:
    return text[1:] if isinstance(text, str) and text.startswith("'") else text


def write_comparison(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """`comparison.csv`; its text cells (names from config) neutralised for spreadsheets, never numbers."""
    out = table.copy()
    for col in TEXT_COLUMNS:
        out[col] = out[col].map(neutral)
    with atomic_path(path, ".csv") as tmp:
        out.to_csv(tmp, index=False, lineterminator="\n")


def read_comparison(path: str | os.PathLike) -> pd.DataFrame:
    """`comparison.csv` as `comparison()` returned it (integer columns stay integer, text stays text)."""
    table = pd.read_csv(path, dtype={col: str for col in TEXT_COLUMNS})
    for col in TEXT_COLUMNS:
        table[col] = table[col].map(_restored)
    for col in INT_COLUMNS:
        table[col] = table[col].astype("Int64")
    return table


def _cell(row: pd.Series, col: str, kind: str) -> dict[str, str] | None:
    """One value of the HTML table as plain text (None: missing); the template escapes it."""
    v = row[col]
    if v is None or pd.isna(v):
        return None
    if kind == "pct":
        text = percent(v)
    elif kind == "pp":
        text = percent(v, signed=True)
    elif kind == "int":
        text = f"{int(v):,}"
    elif kind == "dint":
        text = f"{int(v):+,}"
    elif kind == "d":
        text = f"{v:+.2f}"
    else:
        text = f"{v:.2f}"
    std = row.get(f"{col}_std")
    if std is not None and not pd.isna(std):
        text += f" ± {100 * std:.1f}" if kind == "pct" else f" ± {std:.2f}"
    lo, hi = row.get(f"{col}_low"), row.get(f"{col}_high")
    ci = None
    if lo is not None and not pd.isna(lo):
        scale = 100 if kind == "pct" else 1
        ci = f"[{scale * lo:.1f}, {scale * hi:.1f}]"
    return {"metric": col, "value": repr(float(v)), "text": text, "ci": ci}


def table_rows(table: pd.DataFrame) -> dict[str, Any]:
    """What `comparison.html.j2` shows: the headers, and per row its name and cells, all plain strings."""
    rows = [
        {
            "kind": "baseline" if row["model"] == "baseline" else "model",
            "model": row["model"],
            "name": row["name"],
            "cells": [_cell(row, col, kind) for col, _, kind in HTML_COLUMNS],
        }
        for _, row in table.iterrows()
    ]
    return {"headers": [label for _, label, _ in HTML_COLUMNS], "rows": rows}


def render_html(template: str | os.PathLike, context: dict[str, Any]) -> str:
    """An HTML template under report/ rendered with every value escaped (names come from config and
    file names: none may become markup)."""
    template = Path(template)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template.parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(template.name).render(**context)


def table_html(table: pd.DataFrame, template: str | os.PathLike = TEMPLATE) -> str:
    """The comparison as an HTML table; every value carries data-model/data-metric for auditing."""
    return render_html(template, {"comparison": table_rows(table)})


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--info", nargs="+", required=True, help="train_info.json of every run")
    p.add_argument("--val-metrics", nargs="+", required=True, help="val metrics.json, in the same order")
    p.add_argument("--test-metrics", nargs="+", required=True, help="test metrics.json, in the same order")
    p.add_argument("--published", required=True, help="the study's numbers (config/published.yaml)")
    p.add_argument("--predictions", nargs="+", default=[], help="test predictions.csv of 2 models, one seed")
    p.add_argument("--val-predictions", nargs="*", default=[], help="val predictions.csv of every run")
    p.add_argument("--test-predictions", nargs="*", default=[], help="test predictions.csv of every run")
    p.add_argument("--bootstrap", type=int, default=uncertainty.N_BOOT)
    p.add_argument("--confidence", type=float, default=uncertainty.CONFIDENCE)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", required=True)
    p.add_argument("--html", required=True)
    p.add_argument("--template", default=str(TEMPLATE), help="the table's Jinja2 template")
    p.add_argument("--difference", help="JSON: model A minus B on the same test images, paired intervals")
    a = p.parse_args(argv)
    setup_logging()
    published = yaml.safe_load(Path(a.published).read_text())
    runs = load_runs(a.info, a.val_metrics, a.test_metrics)
    bounds = None
    if a.val_predictions or a.test_predictions:
        preds = {
            s: [pd.read_csv(f) for f in files]
            for s, files in (("val", a.val_predictions), ("test", a.test_predictions))
        }
        if any(len(f) != len(runs) for f in preds.values()):
            p.error("--val-predictions and --test-predictions need one file per run, in the order of --info")
        bounds = seed_bounds(runs, preds, a.bootstrap, a.seed, a.confidence)
    table = comparison(runs, published, bounds)
    if a.difference:
        if len(a.predictions) != 2:
            p.error("--difference needs the test predictions of exactly two models")
        tests = {
            m: [f for r, f in zip(runs, a.test_predictions, strict=False) if r["model"] == m] for m in "AB"
        }
        if all(len(t) > 1 for t in tests.values()):
            arms = [[pd.read_csv(f) for f in tests[m]] for m in "AB"]
            diff = model_difference_seeds(*arms, a.bootstrap, a.seed, a.confidence)
        else:
            diff = model_difference(
                *[pd.read_csv(f) for f in a.predictions], a.bootstrap, a.seed, a.confidence
            )
        write_json(a.difference, diff)
    write_comparison(table, a.csv)
    with atomic_path(a.html, ".html") as tmp:
        tmp.write_text(table_html(table, a.template) + "\n")
    log.info("comparison of %d model(s) written to %s", len(table) - 1, a.csv)


if __name__ == "__main__":
    run(main)
