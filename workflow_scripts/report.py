"""The comparison table (`comparison.csv` / `.html`) and the self-contained HTML report.

The study's published numbers come from a config file (`report.published`), never from code. With
several seeds, each model's numbers are the mean over seeds, with their standard deviation beside them.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import logging
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import yaml

from .fileio import atomic_path, setup_logging
from .labels import read_labels, reason_kind

log = logging.getLogger("utkface.report")

METRICS = ["val_gender_accuracy", "val_age_mae", "test_gender_accuracy", "test_age_mae"]


def load_runs(
    models: list[str], seeds: list[int], results: str | os.PathLike = "results"
) -> list[dict[str, Any]]:
    """One record per (model, seed): metrics on val and test, plus train_info."""
    runs = []
    root = Path(results)
    for m in models:
        for s in seeds:
            run = {
                "model": m,
                "seed": s,
                "info": json.loads((root / f"models/{m}/seed_{s}/train_info.json").read_text()),
            }
            for split in ("val", "test"):
                run[split] = json.loads((root / f"eval/{m}/seed_{s}/{split}/metrics.json").read_text())
            runs.append(run)
    return runs


def comparison(runs: list[dict[str, Any]], published: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per model (mean over seeds, *_std beside) and one for the trivial baselines."""
    rows = []
    for m in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == m]
        per_seed = pd.DataFrame(
            [
                {
                    "val_gender_accuracy": r["val"]["gender_accuracy"],
                    "val_age_mae": r["val"]["age_mae"],
                    "test_gender_accuracy": r["test"]["gender_accuracy"],
                    "test_age_mae": r["test"]["age_mae"],
                    "epochs_run": r["info"]["epochs_run"],
                    "best_epoch": r["info"]["best_epoch"],
                    "train_time_s": r["info"]["train_time_s"],
                }
                for r in mine
            ]
        )
        row: dict[str, Any] = {
            "model": m,
            "name": published.get(m, {}).get("name", f"Model {m}"),
            "seeds": len(mine),
            "trainable_params": mine[0]["info"]["trainable_params"],
        }
        for col in per_seed:
            row[col] = float(per_seed[col].mean())
        for col in METRICS:
            row[f"{col}_std"] = float(per_seed[col].std(ddof=1)) if len(mine) > 1 else float("nan")
        pub = published.get(m, {})
        for key in ("val_gender_accuracy", "val_age_mae", "trainable_params"):
            row[f"published_{key}"] = pub.get(key)
            row[f"diff_{key}"] = row[key] - pub[key] if pub.get(key) is not None else None
        rows.append(row)
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
    cols = [
        "model",
        "name",
        "seeds",
        *METRICS,
        *[f"{c}_std" for c in METRICS],
        "trainable_params",
        "epochs_run",
        "best_epoch",
        "train_time_s",
        "published_val_gender_accuracy",
        "diff_val_gender_accuracy",
        "published_val_age_mae",
        "diff_val_age_mae",
        "published_trainable_params",
        "diff_trainable_params",
    ]
    table = pd.DataFrame(rows).reindex(columns=cols)
    for col in (
        "seeds",
        "trainable_params",
        "epochs_run",
        "best_epoch",
        "published_trainable_params",
        "diff_trainable_params",
    ):
        table[col] = table[col].astype("Int64")
    return table


def fit_diagnosis(history: pd.DataFrame) -> str:
    """The study's criterion, in words: overfitting when validation loss rises while training loss keeps
    falling; underfitting when training loss is still falling fast at the end."""
    val, loss = history["val_loss"].to_numpy(), history["loss"].to_numpy()
    best = int(val.argmin())
    epoch = int(history["epoch"].iloc[best]) if "epoch" in history else best + 1
    rise = (val[-1] - val[best]) / abs(val[best]) if val[best] else 0.0
    n = len(history)
    still_falling = n >= 3 and (loss[-3] - loss[-1]) / abs(loss[-3]) > 0.10
    if rise > 0.15 and loss[-1] < loss[best]:
        return (
            f"signs of overfitting: validation loss rose {100 * rise:.0f}% after its best epoch "
            f"({epoch}) while training loss kept falling; the checkpoint keeps epoch {epoch}"
        )
    if still_falling:
        return (
            "possibly underfitting: training loss still fell by more than 10% over the last epochs; "
            "more epochs may help"
        )
    if rise > 0.15:
        return (
            f"no overfitting trend, but an unsteady validation loss: it ends {100 * rise:.0f}% above its "
            f"best (epoch {epoch}, the one kept) while training loss has levelled off"
        )
    return (
        f"no clear over- or underfitting: validation loss ends within {100 * max(rise, 0):.0f}% of its best "
        f"(epoch {epoch}) and training loss has levelled off"
    )


def reading(table: pd.DataFrame, histories: dict[str, pd.DataFrame]) -> list[str]:
    """Short sentences a newcomer can read: who wins what, and how the curves behave."""
    models = table[table["model"] != "baseline"].set_index("model")
    base = table[table["model"] == "baseline"].iloc[0]
    out = []
    if len(models) >= 2:
        for col, label, better in (
            ("val_gender_accuracy", "validation gender accuracy", max),
            ("val_age_mae", "validation age MAE", min),
            ("test_gender_accuracy", "test gender accuracy", max),
            ("test_age_mae", "test age MAE", min),
        ):
            win = better(models.index, key=lambda m, c=col: models.loc[m, c])
            vals = ", ".join(f"{m} {_fmt(col, models.loc[m, col])}" for m in models.index)
            out.append(f"Best {label}: Model {win} ({vals}).")
    for m in models.index:
        beats = (
            models.loc[m, "test_age_mae"] < base["test_age_mae"]
            and models.loc[m, "test_gender_accuracy"] > base["test_gender_accuracy"]
        )
        out.append(
            f"Model {m} {'beats' if beats else 'does NOT beat'} the trivial baselines on the test split "
            f"(age MAE {models.loc[m, 'test_age_mae']:.2f} vs {base['test_age_mae']:.2f}, gender accuracy "
            f"{100 * models.loc[m, 'test_gender_accuracy']:.1f}% "
            f"vs {100 * base['test_gender_accuracy']:.1f}%)."
        )
        if m in histories:
            out.append(f"Model {m} learning curves: {fit_diagnosis(histories[m])}.")
        pub = models.loc[m, "published_val_age_mae"]
        if pd.notna(pub):
            out.append(
                f"Model {m} against the study: validation gender accuracy "
                f"{100 * models.loc[m, 'val_gender_accuracy']:.1f}% (published "
                f"{100 * models.loc[m, 'published_val_gender_accuracy']:.1f}%), age MAE "
                f"{models.loc[m, 'val_age_mae']:.2f} (published {pub:.2f})."
            )
    return out


def _fmt(col: str, v: float) -> str:
    return f"{100 * v:.1f}%" if "accuracy" in col else f"{v:.2f}"


def table_html(table: pd.DataFrame) -> str:
    """The comparison as an HTML table; every value carries data-model/data-metric for auditing."""

    def cell(row, col, kind):
        v = row[col]
        if v is None or pd.isna(v):
            return '<td class="na">–</td>'
        if kind == "pct":
            text = f"{100 * v:.1f}%"
        elif kind == "pp":
            text = f"{100 * v:+.1f} pp"
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
        return f'<td data-model="{row["model"]}" data-metric="{col}" data-value="{float(v)!r}">{text}</td>'

    cols = [
        ("val_gender_accuracy", "Val gender acc.", "pct"),
        ("val_age_mae", "Val age MAE", "num"),
        ("test_gender_accuracy", "Test gender acc.", "pct"),
        ("test_age_mae", "Test age MAE", "num"),
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
    head = "".join(f"<th>{label}</th>" for _, label, _ in cols)
    body = []
    for _, row in table.iterrows():
        cells = "".join(cell(row, c, k) for c, _, k in cols)
        body.append(
            f'<tr class="{"baseline" if row["model"] == "baseline" else "model"}">'
            f"<th>{row['name']}</th>{cells}</tr>"
        )
    return (
        f'<table class="comparison"><thead><tr><th>Model</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _data_uri(path: str | os.PathLike) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def software_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in (
        "snakemake",
        "tensorflow",
        "tensorflow-cpu",
        "keras",
        "numpy",
        "pandas",
        "pillow",
        "matplotlib",
        "seaborn",
        "jinja2",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def render(template: str | os.PathLike, context: dict[str, Any]) -> str:
    template = Path(template)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template.parent)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(template.name).render(**context)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("table", "html"):
        s = sub.add_parser(name)
        s.add_argument("--models", nargs="+", required=True)
        s.add_argument("--seeds", nargs="+", type=int, required=True)
        s.add_argument("--published", required=True)
        s.add_argument("--results", default="results")
    t = sub.choices["table"]
    t.add_argument("--csv", required=True)
    t.add_argument("--html", required=True)
    h = sub.choices["html"]
    h.add_argument("--config", required=True, help="the workflow config as JSON")
    h.add_argument("--figures", required=True)
    h.add_argument("--template", required=True, help="the Jinja2 template (report/report.html.j2)")
    h.add_argument("--commit", default="unknown", help="the workflow's git commit")
    h.add_argument("--synthetic", action="store_true", help="the run used the synthetic demo set")
    h.add_argument("--out", required=True)
    a = p.parse_args(argv)
    setup_logging()
    published = yaml.safe_load(Path(a.published).read_text())
    runs = load_runs(a.models, a.seeds, a.results)
    table = comparison(runs, published)
    if a.cmd == "table":
        with atomic_path(a.csv, ".csv") as tmp:
            table.to_csv(tmp, index=False, lineterminator="\n")
        with atomic_path(a.html, ".html") as tmp:
            tmp.write_text(table_html(table) + "\n")
        return
    res, figs = Path(a.results), Path(a.figures)
    seed0 = a.seeds[0]
    histories = {m: pd.read_csv(res / f"models/{m}/seed_{seed0}/history.csv") for m in a.models}
    rejected = pd.read_csv(res / "data/labels_rejected.csv")
    reasons = rejected["reason"].map(reason_kind).value_counts()
    context = {
        "synthetic": a.synthetic,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "config_yaml": yaml.safe_dump(json.loads(a.config), sort_keys=True, default_flow_style=None),
        "seeds": a.seeds,
        "counts": {
            "labelled": len(read_labels(res / "data/labels.csv")),
            "rejected": len(rejected),
            **{s: len(read_labels(res / f"data/splits/{s}.csv")) for s in ("train", "val", "test")},
        },
        "reject_reasons": reasons.to_dict(),
        "software": software_versions(),
        "hardware": {
            "host": platform.node(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "gpus": sorted({g for r in runs for g in r["info"]["gpus"]}) or ["none (CPU)"],
        },
        "runs": runs,
        "git": a.commit,
        "table": table_html(table),
        "reading": reading(table, histories),
        "curves": [{"model": m, "src": _data_uri(figs / f"learning_curves_{m}.png")} for m in a.models],
        "extras": [
            {"title": t, "src": _data_uri(figs / f"{f}.png")}
            for t, f in [
                ("Predicted vs true age (test)", "pred_vs_true"),
                ("Age MAE per age bin (test)", "mae_by_age_bin"),
                ("Gender confusion matrices (test)", "confusion"),
                ("Metrics per race (test)", "by_race"),
                *[(f"Best and worst test faces, Model {m}", f"faces_{m}") for m in a.models],
            ]
        ],
    }
    with atomic_path(a.out, ".html") as tmp:
        tmp.write_text(render(a.template, context))
    log.info("report written to %s", a.out)


if __name__ == "__main__":
    main()
