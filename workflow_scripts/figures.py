"""Figures of the run, each saved as PNG and SVG.

Learning curves in the layout of the study's Figures 2 (Model A) and 4 (Model B), and, beyond the study:
predicted vs true age, MAE per age bin, gender confusion matrices, metrics per race and a grid of the
best- and worst-predicted test faces.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .figure_names import MODEL_NAMES, extra_figures  # noqa: E402
from .fileio import atomic_path, setup_logging  # noqa: E402
from .inference import GENDER_THRESHOLD  # noqa: E402
from .step import run

log = logging.getLogger("utkface.figures")

# (panel title, history column, y label): the study's four panels
PANELS = [
    ("Gender loss", "gender_loss", "binary cross-entropy"),
    ("Age loss", "age_loss", "MSE (years²)"),
    ("Gender accuracy", "gender_accuracy", "accuracy"),
    ("Age MAE", "age_mae", "MAE (years)"),
]
COLORS = {"A": "#1f77b4", "B": "#d62728"}


def save(fig: plt.Figure, png: str | os.PathLike, svg: str | os.PathLike | None = None) -> None:
    for path, fmt in ((png, "png"), (svg, "svg")):
        if path:
            with atomic_path(path, f".{fmt}") as tmp:
                fig.savefig(tmp, format=fmt, dpi=110, bbox_inches="tight")
    plt.close(fig)


def learning_curves(history: pd.DataFrame, model: str) -> plt.Figure:
    """Four panels, train and validation per epoch; the kept (best) epoch and any unfreezing marked."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    best = int(history.loc[history["val_loss"].idxmin(), "epoch"])
    phases = history["phase"].tolist()
    unfrozen = [
        e
        for e, p, q in zip(history["epoch"][1:], phases[1:], phases[:-1], strict=True)
        if p == "unfrozen" and q != "unfrozen"
    ]
    for ax, (title, col, ylabel) in zip(axes.flat, PANELS, strict=True):
        ax.plot(history["epoch"], history[col], label="training", color="#1f77b4", marker=".", lw=1.5)
        ax.plot(
            history["epoch"], history[f"val_{col}"], label="validation", color="#ff7f0e", marker=".", lw=1.5
        )
        ax.axvline(best, color="#2ca02c", ls="--", lw=1.2, label=f"best epoch ({best}, kept)")
        for e in unfrozen:
            ax.axvline(e - 0.5, color="#7f7f7f", ls=":", lw=1.5, label=f"base unfrozen (epoch {e})")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="lower center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, -0.02)
    )
    fig.suptitle(f"{MODEL_NAMES.get(model, model)}: learning curves", fontsize=14)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def pred_vs_true(preds: dict[str, pd.DataFrame]) -> plt.Figure:
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(1, len(preds), figsize=(5.5 * len(preds), 5), squeeze=False)
    hi = max(max(p["age"].max(), p["pred_age"].max()) for p in preds.values()) + 5
    for ax, (model, p) in zip(axes[0], preds.items(), strict=True):
        ax.scatter(p["age"], p["pred_age"], s=8, alpha=0.4, color=COLORS.get(model))
        ax.plot([0, hi], [0, hi], color="k", lw=1, ls="--", label="perfect")
        mae = (p["pred_age"] - p["age"]).abs().mean()
        ax.set(
            title=f"{MODEL_NAMES.get(model, model)}\ntest MAE {mae:.2f}",
            xlabel="true age",
            ylabel="predicted age",
            xlim=(0, hi),
            ylim=(0, hi),
        )
        ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def _grouped_bars(ax, metrics: dict[str, dict], group: str, value: str, ylabel: str, title: str, **legend):
    """On `ax`: one bar per model for each entry of `metrics[model][group]` (age bins, races, ...), with
    the bootstrap interval as an error bar where the metrics carry one."""
    groups = list(dict.fromkeys(g for met in metrics.values() for g in met[group]))
    width = 0.8 / len(metrics)
    for k, (model, met) in enumerate(metrics.items()):
        xs, ys, err = [], [], [[], []]
        for i, g in enumerate(groups):
            if g not in met[group]:
                continue
            v = met[group][g][value]
            lo, hi = met.get("ci", {}).get(group, {}).get(g, {}).get(value, (v, v))
            xs.append(i - 0.4 + width * (k + 0.5))
            ys.append(v)
            err[0].append(max(v - lo, 0))
            err[1].append(max(hi - v, 0))
        ax.bar(xs, ys, width, color=COLORS.get(model, "#555"), label=MODEL_NAMES.get(model, model))
        ax.errorbar(xs, ys, yerr=err, fmt="none", ecolor="#222", elinewidth=1, capsize=2)
    ax.set_xticks(range(len(groups)), groups)
    ax.set(xlabel="", ylabel=ylabel, title=title)
    ax.legend(title="", **legend)


def calibration(metrics: dict[str, dict]) -> plt.Figure:
    """Reliability diagram of p(female) on test: observed share of women per bin of predicted probability."""
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(5.8, 5.2))
    ax.plot([0, 1], [0, 1], ls="--", color="#888", lw=1, label="perfectly calibrated")
    for model, met in metrics.items():
        cal = met.get("calibration")
        if not cal:
            continue
        pts = [(p, o) for p, o in zip(cal["mean_prob"], cal["observed"], strict=True) if p is not None]
        ax.plot(*zip(*pts, strict=True), marker="o", color=COLORS.get(model, "#555"),
                label=f"{MODEL_NAMES.get(model, model)}: ECE {cal['ece']:.3f}")  # fmt: skip
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted p(female)", ylabel="observed share of women")
    ax.set_title("Calibration of the gender output (test)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def mae_by_age_bin(metrics: dict[str, dict]) -> plt.Figure:
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(10, 4.5))
    _grouped_bars(ax, metrics, "by_age_bin", "age_mae", "MAE (years)", "Test age MAE per age bin")
    fig.tight_layout()
    return fig


def by_race(metrics: dict[str, dict]) -> plt.Figure:
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, (value, ylabel) in zip(
        axes, (("age_mae", "age MAE (years)"), ("gender_accuracy", "gender accuracy")), strict=True
    ):
        _grouped_bars(ax, metrics, "by_race", value, ylabel, f"Test {ylabel} per race", fontsize=8)
    fig.tight_layout()
    return fig


def confusion(metrics: dict[str, dict]) -> plt.Figure:
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.8 * len(metrics), 4.2), squeeze=False)
    for ax, (model, met) in zip(axes[0], metrics.items(), strict=True):
        cm = np.array(met["confusion"]["matrix"])
        labels = met["confusion"]["labels"]
        sns.heatmap(
            cm,
            annot=True,
            fmt="d",
            cmap="Blues",
            cbar=False,
            ax=ax,
            xticklabels=labels,
            yticklabels=labels,
            square=True,
        )
        ax.set(
            xlabel="predicted",
            ylabel="true",
            title=f"{MODEL_NAMES.get(model, model)}\naccuracy {met['gender_accuracy']:.3f}",
        )
    fig.tight_layout()
    return fig


def faces(images: np.ndarray, pred: pd.DataFrame, model: str, n: int = 8) -> plt.Figure:
    """The n best- and n worst-predicted test faces (by age error, then gender correctness)."""
    p = pred.reset_index(drop=True).copy()
    p["err"] = (p["pred_age"] - p["age"]).abs()
    p["wrong"] = ((p["gender_prob"] >= GENDER_THRESHOLD).astype(int) != p["gender"]).astype(int)
    p["score"] = p["err"] + 25 * p["wrong"]
    order = p.sort_values(["score", "path"]).index
    picks = [("best", list(order[:n])), ("worst", list(order[::-1][:n]))]
    fig, axes = plt.subplots(2, n, figsize=(1.7 * n, 4.6), squeeze=False)
    gender = ("M", "F")
    for row, (kind, idx) in enumerate(picks):
        for col in range(n):
            ax = axes[row][col]
            ax.axis("off")
            if col >= len(idx):
                continue
            r = p.loc[idx[col]]
            ax.imshow(images[idx[col]])
            pg = int(r["gender_prob"] >= GENDER_THRESHOLD)
            ax.set_title(
                f"true {int(r['age'])} {gender[int(r['gender'])]}\npred {r['pred_age']:.0f} {gender[pg]}",
                fontsize=8,
                color="#2ca02c" if kind == "best" else "#d62728",
            )
        axes[row][0].text(
            -0.15,
            0.5,
            kind,
            transform=axes[row][0].transAxes,
            rotation=90,
            va="center",
            ha="right",
            fontsize=11,
        )
    fig.suptitle(f"{MODEL_NAMES.get(model, model)}: best and worst test predictions", fontsize=12)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    lc = sub.add_parser("curves")
    lc.add_argument("--history", required=True)
    lc.add_argument("--model", required=True)
    lc.add_argument("--png", required=True)
    lc.add_argument("--svg", required=True)
    ex = sub.add_parser("extra", help="one figure beyond the study (names in figure_names.py)")
    ex.add_argument("--figure", required=True)
    ex.add_argument("--models", nargs="+", required=True)
    ex.add_argument("--predictions", nargs="+", required=True, help="test predictions.csv, one per model")
    ex.add_argument("--metrics", nargs="+", required=True, help="test metrics.json, one per model")
    ex.add_argument("--test-images", required=True)
    ex.add_argument("--n-faces", type=int, default=8)
    ex.add_argument("--png", required=True)
    ex.add_argument("--svg", required=True)
    a = p.parse_args(argv)
    setup_logging()
    if a.cmd == "curves":
        save(learning_curves(pd.read_csv(a.history), a.model), a.png, a.svg)
        return
    if a.figure not in extra_figures(a.models):
        p.error(f"--figure {a.figure}: not one of {', '.join(extra_figures(a.models))}")
    save(draw_extra(a.figure, a.models, a.predictions, a.metrics, a.test_images, a.n_faces), a.png, a.svg)


def draw_extra(
    figure: str,
    models: list[str],
    predictions: list[str],
    metrics: list[str],
    test_images: str | os.PathLike,
    n_faces: int = 8,
) -> plt.Figure:
    """The named figure beyond the study, from each model's test predictions and metrics (model order)."""
    if figure.startswith("faces_"):
        model = figure.removeprefix("faces_")
        pred = pd.read_csv(predictions[models.index(model)])
        return faces(np.load(test_images, mmap_mode="r"), pred, model, n_faces)
    if figure == "pred_vs_true":
        return pred_vs_true({m: pd.read_csv(f) for m, f in zip(models, predictions, strict=True)})
    loaded = {m: json.loads(Path(f).read_text()) for m, f in zip(models, metrics, strict=True)}
    draw = {
        "mae_by_age_bin": mae_by_age_bin,
        "confusion": confusion,
        "by_race": by_race,
        "calibration": calibration,
    }[figure]
    return draw(loaded)


if __name__ == "__main__":
    run(main)
