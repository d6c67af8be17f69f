"""The self-contained HTML report: reading, comparison table, figures and what was run.

Every file it shows is handed to it by its rule; the table is `comparison.csv` as the comparison rule
wrote it, never recomputed here.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import logging
import os
import platform
import urllib.parse
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from . import claims_page, verdicts
from .comparison import read_comparison, render_html, table_rows
from .download import redact_urls
from .figure_names import curve_figures, extra_figures
from .fileio import atomic_path, json_object, one_path, setup_logging
from .formats import percent
from .labeltable import read_labels, reason_kind
from .provenance import workflow_commit
from .step import run

log = logging.getLogger("utkface.report")


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
            f"signs of overfitting: validation loss rose {percent(rise, 0)} after its best epoch "
            f"({epoch}) while training loss kept falling; the checkpoint keeps epoch {epoch}"
        )
    if still_falling:
        return (
            "possibly underfitting: training loss still fell by more than 10% over the last epochs; "
            "more epochs may help"
        )
    if rise > 0.15:
        return (
            f"no overfitting trend, but an unsteady validation loss: it ends {percent(rise, 0)} above its "
            f"best (epoch {epoch}, the one kept) while training loss has levelled off"
        )
    return (
        f"no clear over- or underfitting: validation loss ends within {percent(max(rise, 0), 0)} of its best "
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
            vals = ", ".join(f"{m} {verdicts.fmt(col, models.loc[m, col])}" for m in models.index)
            out.append(f"Best {label}: Model {win} ({vals}).")
    for m in models.index:
        beats = (
            models.loc[m, "test_age_mae"] < base["test_age_mae"]
            and models.loc[m, "test_gender_accuracy"] > base["test_gender_accuracy"]
        )
        out.append(
            f"Model {m} {'beats' if beats else 'does NOT beat'} the trivial baselines on the test split "
            f"(age MAE {models.loc[m, 'test_age_mae']:.2f} vs {base['test_age_mae']:.2f}, gender accuracy "
            f"{percent(models.loc[m, 'test_gender_accuracy'])} "
            f"vs {percent(base['test_gender_accuracy'])})."
        )
        if m in histories:
            out.append(f"Model {m} learning curves: {fit_diagnosis(histories[m])}.")
        pub = models.loc[m, "published_val_age_mae"]
        if pd.notna(pub):
            out.append(
                f"Model {m} against the study: validation gender accuracy "
                f"{percent(models.loc[m, 'val_gender_accuracy'])} (published "
                f"{percent(models.loc[m, 'published_val_gender_accuracy'])}), age MAE "
                f"{models.loc[m, 'val_age_mae']:.2f} (published {pub:.2f})."
            )
    return out


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


def relative_link(target: str | os.PathLike, start: str | os.PathLike) -> str:
    """An href from folder `start` to file `target`, percent-encoded: a folder named like a scheme
    (`javascript:...`) cannot make it anything but a relative link."""
    return urllib.parse.quote(Path(os.path.relpath(target, start)).as_posix())


def _by_stem(paths: list[str]) -> dict[str, str]:
    return {Path(p).stem: p for p in paths}


# The rule's named inputs the report reads, each always given: one file; a list of files (possibly empty);
# or one file or an empty list (none in this run). Other names (the templates it includes) are not read here.
ONE_INPUT = ("comparison", "labels", "rejected", "template")
LIST_INPUTS = ("info", "histories", "metrics", "figures", "galleries", "splits", "claims_figures")
MAYBE_INPUT = ("difference", "claims_table")


def read_inputs(text: str) -> dict[str, Any]:
    """The rule's named inputs (`--inputs`: JSON, name -> path or list of paths), checked, naming the key
    that is missing or of the wrong kind (ValueError)."""
    given = json_object(text, "--inputs")
    missing = [k for k in (*ONE_INPUT, *LIST_INPUTS, *MAYBE_INPUT) if k not in given]
    if missing:
        raise ValueError(f"--inputs lacks {', '.join(missing)}")
    files = {k: one_path(given[k], f"--inputs {k}") for k in ONE_INPUT}
    for k in LIST_INPUTS:
        v = [given[k]] if isinstance(given[k], str) else given[k]
        if not isinstance(v, list) or not all(isinstance(p, str) and p for p in v):
            raise ValueError(f"--inputs {k}: a list of paths, not {given[k]!r}")
        files[k] = v
    for k in MAYBE_INPUT:
        files[k] = None if given[k] == [] else one_path(given[k], f"--inputs {k}")
    return files


def context(a: argparse.Namespace) -> dict[str, Any]:
    """What the template shows, from the files the rule handed over (`a`: the arguments, with the inputs
    as attributes)."""
    table = read_comparison(a.comparison)
    infos = [json.loads(Path(f).read_text()) for f in a.info]
    models = list(dict.fromkeys(i["model"] for i in infos))
    seeds = list(dict.fromkeys(i["seed"] for i in infos))
    # one history per model, in the order of the runs' models (the first seed's run)
    histories = {m: pd.read_csv(h) for m, h in zip(models, a.histories, strict=True)}
    figures = _by_stem(a.figures)
    evals = [json.loads(Path(f).read_text()) for f in a.metrics]
    test = {m["model"]: m for m in evals if m["split"] == "test"}
    external: dict[str, dict[str, Any]] = {}
    for m in evals:
        if m["split"].startswith("external_"):
            external.setdefault(m["split"].removeprefix("external_"), {})[m["model"]] = m
    difference = json.loads(Path(a.difference).read_text()) if a.difference else {}
    rejected = pd.read_csv(a.rejected)
    splits = {Path(p).stem: len(read_labels(p)) for p in a.splits}
    return {
        "synthetic": a.synthetic,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        # (the rule hands it over redacted already; a direct call may not)
        "config_yaml": yaml.safe_dump(
            redact_urls(json.loads(a.config)), sort_keys=True, default_flow_style=None
        ),
        "seeds": seeds,
        "counts": {"labelled": len(read_labels(a.labels)), "rejected": len(rejected), **splits},
        "reject_reasons": rejected["reason"].map(reason_kind).value_counts().to_dict(),
        "software": software_versions(),
        "hardware": {
            "host": platform.node(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "gpus": sorted({g for i in infos for g in i["gpus"]}) or ["none (CPU)"],
        },
        "runs": [{"model": i["model"], "seed": i["seed"], "info": i} for i in infos],
        "git": a.commit or workflow_commit(),
        "trained_at": sorted({i.get("commit", "unknown") for i in infos}),
        "comparison": table_rows(table),
        "reading": reading(table, histories),
        "headline": verdicts.headline_seeds(table, test) if len(seeds) > 1 else verdicts.headline(test),
        "sure": {
            "study": verdicts.study_inside(table),
            "difference": verdicts.model_difference(difference),
            "optimism": verdicts.optimism(table),
            "calibration": verdicts.calibration(test),
            "gaps": verdicts.gaps(test),
        },
        "external": verdicts.external(external, test),
        # relative links: the report and the galleries move together with the results folder
        "galleries": [
            {"model": m, "href": relative_link(g, Path(a.out).parent)}
            for m, g in zip(models, a.galleries, strict=False)
        ],
        "curves": [
            {"model": m, "src": _data_uri(figures[name])}
            for m, name in zip(models, curve_figures(models), strict=True)
        ],
        "extras": [{"title": t, "src": _data_uri(figures[n])} for n, t in extra_figures(models).items()],
        "claims_grid": _claims(a),
    }


def _claims(a: argparse.Namespace) -> dict[str, Any] | None:
    """The claims section's context, when the run tested the claims."""
    if not a.claims_table:
        return None
    table = claims_page.read_claims(a.claims_table)
    return claims_page.page_context(
        table, a.claims_figures, json.loads(a.claims_grid), a.synthetic, a.confidence
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--inputs",
        required=True,
        help="the rule's named inputs as JSON: comparison (comparison.csv), info (train_info.json of every"
        " run), histories (history.csv per model, first seed), metrics (tagged metrics.json of the first"
        " seed's runs), difference (model_difference.json, optional), galleries (per model), figures (PNGs"
        " named as in figure_names), labels, rejected, splits (train, val, test), template (Jinja2),"
        " claims_table and claims_figures (empty lists unless the run tested the claims); every one of them"
        " given, a list possibly empty; other names (the templates it includes) are not read. @FILE: read"
        " the JSON from FILE",
    )
    p.add_argument("--config", required=True, help="the workflow config as JSON")
    p.add_argument("--commit", help="the workflow's git commit (default: asked of git)")
    p.add_argument("--synthetic", action="store_true", help="the run used the synthetic demo set")
    p.add_argument("--claims-grid", default="{}", help="the claims grid's spec as JSON")
    p.add_argument("--confidence", type=float, default=0.95, help="the intervals' confidence")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    setup_logging()
    try:
        files = read_inputs(a.inputs)
    except ValueError as e:  # a caller's mistake, not a traceback
        raise SystemExit(f"ERROR: {e}") from None
    a = argparse.Namespace(**vars(a), **files)
    html = render_html(a.template, context(a))
    with atomic_path(a.out, ".html") as tmp:
        tmp.write_text(html)
    log.info("report written to %s", a.out)


if __name__ == "__main__":
    run(main)
