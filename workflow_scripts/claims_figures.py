"""The two figures of "The study's claims, tested": a forest plot of every claim's effect (variant minus
baseline, with its 95% two-level bootstrap interval, coloured by verdict) and the data-size curve (test
metrics of both models against the number of training images), each saved as PNG and SVG.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from .claims_stats import CONTRADICTED, NOT_SHOWN, ONE_SEED, SUPPORTED  # noqa: E402
from .figure_names import MODEL_NAMES  # noqa: E402
from .figures import COLORS, save  # noqa: E402
from .fileio import setup_logging  # noqa: E402
from .step import run  # noqa: E402

CLAIM_COLUMNS = ("claim", "model", "metric", "unit", "effect", "lo", "hi", "seeds", "verdict")
CURVE_COLUMNS = ("model", "n_train", "metric", "unit", "mean", "lo", "hi", "seeds")
UNITS = ("years", "points", "epochs", "parameters", "years/epoch", "points/epoch", "ratio")
# Okabe-Ito colours, and a shape each, so the verdicts stay apart without colour vision too
VERDICT_STYLE = {SUPPORTED: ("#009E73", "o"), CONTRADICTED: ("#D55E00", "X"), NOT_SHOWN: ("#999999", "s")}
VERDICT_GROUP = {SUPPORTED: SUPPORTED, CONTRADICTED: CONTRADICTED, NOT_SHOWN: NOT_SHOWN, ONE_SEED: NOT_SHOWN}
# (metric, name, which way is better, unit)
CURVE_PANELS = [("age_mae", "Age MAE", "lower is better", "years"),
                ("gender_accuracy", "Gender accuracy", "higher is better", "points")]  # fmt: skip


def read_table(path: str | Path, columns: tuple[str, ...], numeric: tuple[str, ...]) -> pd.DataFrame:
    """The CSV with its columns checked and its numbers parsed; SystemExit with one ERROR line if not."""
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SystemExit(f"ERROR: {path}: not a readable CSV ({type(err).__name__}: {err})") from None
    for col in columns:
        if col not in df.columns:
            raise SystemExit(f"ERROR: {path}: no column '{col}' (needs {', '.join(columns)})")
    for col in numeric:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = df[col][values.isna() & df[col].notna()]
        if len(bad):
            raise SystemExit(f"ERROR: {path}: column '{col}' holds '{bad.iloc[0]}', not a number")
        df[col] = values
    return df


def verdict_group(verdict: str) -> str:
    """The colour group of a verdict: "not shown" with any reason (one seed, too few epochs) is not shown."""
    return NOT_SHOWN if str(verdict).startswith(NOT_SHOWN) else VERDICT_GROUP.get(verdict, verdict)


def check_values(df: pd.DataFrame, path: str | Path, col: str, allowed: tuple[str, ...]) -> None:
    bad = sorted(set(df[col].fillna("").astype(str)) - set(allowed))
    if bad:
        raise SystemExit(f"ERROR: {path}: column '{col}' holds '{bad[0]}', not one of {', '.join(allowed)}")


def _empty(message: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=13, transform=ax.transAxes)
    return fig


def _labels(rows: pd.DataFrame) -> list[str]:
    """Claim ids; with the metric added where a claim has several rows in the panel, and the model where
    that still leaves two alike (the data-size claim has a row per model)."""
    several = rows["claim"].duplicated(keep=False)
    labels = pd.Series(
        [
            f"{c} · {m}" if s else str(c)
            for c, m, s in zip(rows["claim"], rows["metric"], several, strict=True)
        ]
    )
    alike = labels.duplicated(keep=False)
    return [f"{lab} · {m}" if a else lab for lab, m, a in zip(labels, rows["model"], alike, strict=True)]


def _forest_panel(ax: plt.Axes, rows: pd.DataFrame, unit: str) -> None:
    ratio = unit == "ratio"
    y = np.arange(len(rows))
    groups = rows["verdict"].map(verdict_group)
    ax.axvline(1.0 if ratio else 0.0, color="#333", lw=1, ls="--", label="no effect", zorder=1)
    ok = rows["lo"].notna() & rows["hi"].notna()
    if ok.any():
        colors = [VERDICT_STYLE[g][0] for g in groups[ok]]
        ax.hlines(y[ok.to_numpy()], rows["lo"][ok], rows["hi"][ok], colors=colors, lw=2.2, zorder=2)
    for group, (color, marker) in VERDICT_STYLE.items():
        sel = (groups == group).to_numpy()
        if sel.any():
            ax.scatter(rows["effect"][sel], y[sel], color=color, marker=marker, s=60, zorder=3, label=group)
    seeds = [f"{int(k)} seed{'s' if k != 1 else ''}" if pd.notna(k) else "" for k in rows["seeds"]]
    for yi, text in zip(y, seeds, strict=True):
        ax.annotate(text, (1.01, yi), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    values = rows[["effect", "lo", "hi"]].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if ratio and len(values) and values.min() > 0 and values.max() / values.min() > 10:
        ax.set_xscale("log")  # a ratio of 10 and one of 1/10 are equally far from 1
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y, _labels(rows))
    ax.set_ylim(len(rows) - 0.5, -0.5)  # CSV order, top to bottom
    how = "variant / baseline" if ratio else "variant − baseline"
    ax.set_xlabel(f"effect ({unit}): {how}")


def forest(claims: pd.DataFrame) -> plt.Figure:
    """One panel per unit present (stacked, as tall as its rows), one row per claim and metric."""
    claims = claims[claims["effect"].notna()]  # a row not measured (too few epochs) has nothing to draw
    if claims.empty:
        return _empty("no claims tested")
    sns.set_theme(style="whitegrid")
    units = list(dict.fromkeys(claims["unit"]))
    panels = [claims[claims["unit"] == u].reset_index(drop=True) for u in units]
    ratios = [len(p) + 1.6 for p in panels]  # +1.6: the panel's x axis and label
    fig, axes = plt.subplots(
        len(units), 1, figsize=(9, 0.9 + 0.32 * sum(ratios)), squeeze=False, height_ratios=ratios
    )
    for ax, rows, unit in zip(axes[:, 0], panels, units, strict=True):
        _forest_panel(ax, rows, unit)
    present = [g for g in VERDICT_STYLE if g in set(claims["verdict"].map(verdict_group))]
    handles = [
        Line2D([], [], color=VERDICT_STYLE[g][0], marker=VERDICT_STYLE[g][1], ls="", ms=8, label=g)
        for g in present
    ]
    fig.suptitle("The study's claims, tested: effect of undoing each choice (95% interval)")
    fig.tight_layout()
    fig.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0), ncol=len(handles), title="verdict"
    )
    return fig


def data_size(curve: pd.DataFrame, study_size: int) -> plt.Figure:
    """Test age MAE and gender accuracy of each model against its number of training images."""
    if curve.empty:
        return _empty("no data-size curve")
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    sizes = sorted({*map(int, curve["n_train"]), int(study_size)})
    for ax, (metric, name, better, unit) in zip(axes, CURVE_PANELS, strict=True):
        rows = curve[curve["metric"] == metric]
        for model, m in rows.groupby("model", sort=True):
            m = m.sort_values("n_train")
            color = COLORS.get(model, "#555")
            ax.plot(m["n_train"], m["mean"], marker="o", color=color, label=MODEL_NAMES.get(model, model))
            # a band, not error bars: the two models' intervals overlap at the same sizes
            ax.fill_between(m["n_train"], m["lo"], m["hi"], color=color, alpha=0.18, lw=0)
        ax.axvline(study_size, color="#333", ls="--", lw=1.2, label="the training split (the baseline)")
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
        ax.minorticks_off()
        ax.set(
            title=f"{name} ({better})", xlabel="training images (log scale)", ylabel=f"{name}, test ({unit})"
        )
        ax.legend(fontsize=8)
    fig.suptitle("More training data: test metrics against the training set's size (95% interval)")
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    fo = sub.add_parser("forest", help="the claims grid's effects, one row per claim and metric")
    fo.add_argument("--claims", required=True, help="claims.csv")
    ds = sub.add_parser("data_size", help="test metrics against the number of training images")
    ds.add_argument("--data-size", required=True, help="data_size.csv")
    ds.add_argument("--study-size", type=int, required=True, help="the study's training split size")
    for sp in (fo, ds):
        sp.add_argument("--png", required=True)
        sp.add_argument("--svg", required=True)
    a = p.parse_args(argv)
    setup_logging()
    if a.cmd == "forest":
        claims = read_table(a.claims, CLAIM_COLUMNS, ("effect", "lo", "hi", "seeds"))
        check_values(claims, a.claims, "unit", UNITS)
        not_shown = claims["verdict"].astype(str).str.startswith(NOT_SHOWN)  # with its reason, if any
        check_values(claims[~not_shown], a.claims, "verdict", tuple(VERDICT_GROUP))
        fig = forest(claims)
    else:
        if a.study_size < 1:
            raise SystemExit(f"ERROR: --study-size {a.study_size}: must be a positive number of images")
        curve = read_table(a.data_size, CURVE_COLUMNS, ("n_train", "mean", "lo", "hi", "seeds"))
        check_values(curve, a.data_size, "metric", tuple(p[0] for p in CURVE_PANELS))
        check_values(curve, a.data_size, "model", tuple(MODEL_NAMES))
        if (curve["n_train"].isna() | (curve["n_train"] < 1)).any():
            raise SystemExit(f"ERROR: {a.data_size}: column 'n_train' must be a positive number everywhere")
        fig = data_size(curve, a.study_size)
    save(fig, a.png, a.svg)


if __name__ == "__main__":
    run(main)
