"""Write the numbers of the README and docs from files the workflow wrote, never by hand.

Blocks: `study` (the study's published numbers, config/published.yaml) in README.md and docs/method.md,
`demo` (the demo's test numbers and time) in README.md, `real` (the real-data runs) in README.md and
docs/results.md, `claims` (the demo's claims grid and the full grid's cost) in docs/claims.md.

Each generated block sits between `<!-- NAME:start -->` and `<!-- NAME:end -->`. The files a block reads
are committed beside this script (docs/runs/), copied there from a run by `--collect RESULTS_DIR`, which
also records the date, commit and CPU of that run; a test reruns this script on them and checks that the
docs do not change, so no number can be edited by hand or go stale silently.

    python docs/fill_numbers.py                       # rewrite the blocks from docs/runs/
    python docs/fill_numbers.py --check               # exit 1 if a block differs from what the files say
    python docs/fill_numbers.py --collect /path/to/a/demo/run   # copy a demo run's files into docs/runs/demo/
    python docs/fill_numbers.py --collect-real   # copy the real-data runs (and redraw Figure 2 from one)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workflow_scripts.claims import load_claims  # noqa: E402
from workflow_scripts.claims_grid import make_grid  # noqa: E402
from workflow_scripts.claims_page import effect_text, read_claims  # noqa: E402
from workflow_scripts.configcheck import with_defaults  # noqa: E402
from workflow_scripts.tfsetup import cpu_name  # noqa: E402

DOCS_ROOT = ROOT  # where the documents to fill are (a test points it elsewhere)
RUNS = ROOT / "docs" / "runs"
DEMO = RUNS / "demo"
REAL = ROOT.parent / "shared" / "reference" / "real_utkface_runs"
# what --collect copies from a demo run: results/<source> -> docs/runs/demo/<name>
DEMO_FILES = {
    "comparison.csv": "comparison.csv",
    "model_difference.json": "model_difference.json",
    "claims/claims.csv": "claims.csv",
    "claims/data_size.csv": "data_size.csv",
    "claims/forest.png": "forest.png",
    "claims/data_size.png": "data_size.png",
}
REAL_A = "model_a_100_epochs_9246926/train_info.json"
# the real-data runs (../shared/reference/real_utkface_runs/, outside this repository): folder -> commit
REAL_RUNS = {"model_a_100_epochs_9246926": "9246926", "model_a_15_epochs_0a71650": "0a71650"}
REAL_FILES = (
    "history.csv",
    "train_info.json",
    "val_metrics.json",
    "test_metrics.json",
    "config_overrides.yaml",
)


def collect(results: Path) -> None:
    """Copy a demo run's files into docs/runs/demo/, with where and when they were made."""
    DEMO.mkdir(parents=True, exist_ok=True)
    for src, name in DEMO_FILES.items():
        shutil.copyfile(results / src, DEMO / name)
    commit = subprocess.run(
        ["git", "-C", str(results.parent), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    made = pd.Timestamp((results / "claims/claims.csv").stat().st_mtime, unit="s").strftime("%Y-%m-%d")
    run = {
        "date": made,
        "commit": commit or "unknown",
        "cpu": f"{cpu_name()}, {len(_cpus())} cores",
        "elapsed": _elapsed(results.parent / ".snakemake" / "log"),
    }
    (DEMO / "run.json").write_text(json.dumps(run, indent=1) + "\n")
    if (REAL / REAL_A).exists():
        shutil.copyfile(REAL / REAL_A, RUNS / "real_model_a_train_info.json")
        collect_real()


def collect_real() -> None:
    """Copy the real-data runs' files into docs/runs/real/, and redraw the study's Figure 2 from the
    100-epoch run's history with the workflow's own figure code."""
    from workflow_scripts import figures

    for folder in REAL_RUNS:
        (RUNS / "real" / folder).mkdir(parents=True, exist_ok=True)
        for name in REAL_FILES:
            shutil.copyfile(REAL / folder / name, RUNS / "real" / folder / name)
    history = pd.read_csv(RUNS / "real" / next(iter(REAL_RUNS)) / "history.csv")
    figures.save(figures.learning_curves(history, "A"), RUNS / "real" / "learning_curves_A.png")


def _elapsed(logs: Path) -> str:
    """The wall time of the newest Snakemake run that finished with every step done, as it logged it."""
    for log in sorted(logs.glob("*.snakemake.log"), reverse=True):
        text = log.read_text()
        found = re.search(r"^Elapsed time: (\d+):(\d\d):(\d\d)", text, flags=re.M)
        if found and "(100%) done" in text:
            h, m, sec = map(int, found.groups())
            return f"{60 * h + m} min {sec} s"
    return "unknown"


def _cpus() -> list[int]:
    import os

    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]


def _metric(row: pd.Series, metric: str) -> str:
    lo, hi = row[f"test_{metric}_low"], row[f"test_{metric}_high"]
    if metric == "gender_accuracy":
        return f"{100 * row[f'test_{metric}']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
    return f"{row[f'test_{metric}']:.2f} years [{lo:.2f}, {hi:.2f}]"


def demo_block() -> str:
    """What the demo's models reached on its test split, and how long it took, from its files."""
    run = json.loads((DEMO / "run.json").read_text())
    table = pd.read_csv(DEMO / "comparison.csv").set_index("model")
    diff = json.loads((DEMO / "model_difference.json").read_text())
    a, b, base = table.loc["A"], table.loc["B"], table.loc["baseline"]
    age, acc = diff["age_mae"], diff["gender_accuracy"]
    return (
        f"In the demo (measured {run['date']} at commit `{run['commit']}` on {run['cpu']}) Model A reached "
        f"a test gender accuracy of {_metric(a, 'gender_accuracy')} (95% intervals) and an age MAE of "
        f"{_metric(a, 'age_mae')}, against {100 * base['test_gender_accuracy']:.1f}% and "
        f"{base['test_age_mae']:.2f} years for the trivial baselines. No ImageNet weights can be fetched "
        f"offline, so the demo's VGG16 starts from random weights: {_metric(b, 'gender_accuracy')} and "
        f"{_metric(b, 'age_mae')}. On the same {diff['n']} test images, A minus B (paired intervals): age "
        f"MAE {age['difference']:+.2f} years [{age['low']:+.2f}, {age['high']:+.2f}], gender accuracy "
        f"{100 * acc['difference']:+.1f} points [{100 * acc['low']:+.1f}, {100 * acc['high']:+.1f}]. That "
        f"run took {run['elapsed']}, its claims grid included."
    )


def study_block() -> str:
    """The study's own numbers (validation split, best checkpoint) and trainable parameters."""
    published = yaml.safe_load((ROOT / "config/published.yaml").read_text())
    lines = [
        "| | gender accuracy | age MAE | trainable parameters |",
        "| --- | --- | --- | --- |",
    ]
    for m in ("A", "B"):
        p = published[m]
        lines.append(
            f"| {p['name']} | {100 * p['val_gender_accuracy']:.1f}% | {p['val_age_mae']:.2f} "
            f"| {p['trainable_params']:,} |"
        )
    return "\n".join(lines)


def real_block() -> str:
    """The real-data runs beside the study's numbers, from their committed files."""
    published = yaml.safe_load((ROOT / "config/published.yaml").read_text())["A"]
    lines = [
        "| run | commit | epochs (best) | validation MAE / gender | test MAE / gender | training |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| the study (Model A) | | | {published['val_age_mae']:.2f} / "
        f"{100 * published['val_gender_accuracy']:.1f}% | not reported | |",
    ]
    for folder, commit in REAL_RUNS.items():
        d = RUNS / "real" / folder
        info = json.loads((d / "train_info.json").read_text())
        val, test = (json.loads((d / f"{s}_metrics.json").read_text()) for s in ("val", "test"))
        cells = []
        for m in (val, test):
            ci = m.get("ci")
            text = f"{m['age_mae']:.2f} / {100 * m['gender_accuracy']:.1f}%"
            if ci:
                text += f" ([{ci['age_mae'][0]:.2f}, {ci['age_mae'][1]:.2f}] / "
                text += f"[{100 * ci['gender_accuracy'][0]:.1f}, {100 * ci['gender_accuracy'][1]:.1f}])"
            cells.append(text)
        device = "GPU" if info["gpus"] else "no GPU"
        epochs = f"{info['epochs_run']} ({info['best_epoch']})"
        lines.append(
            f"| `{folder}` | `{commit}` | {epochs} | {cells[0]} | {cells[1]} (n = {test['n']:,}) "
            f"| {info['train_time_s']:,.0f} s, {device} |"
        )
    return "\n".join(lines)


def claims_block(figures: str = "runs/demo") -> str:
    """The demo's claims table, its figures (`figures`: docs/runs/demo/ relative to the page), and the
    full grid's size and cost on the real data."""
    run = json.loads((DEMO / "run.json").read_text())
    table = read_claims(DEMO / "claims.csv")
    lines = [
        f"The demo's small grid (measured {run['date']} at commit `{run['commit']}` on {run['cpu']}; demo",
        "numbers, which say nothing about the study):",
        "",
        "| claim | model | metric | effect [95% interval] | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in table.to_dict("records"):
        lines.append(f"| `{r['claim']}` | {r['model']} | {r['metric']} | {effect_text(r)} | {r['verdict']} |")
    lines += [
        "",
        f"![Forest plot of the demo's claims]({figures}/forest.png)",
        f"![The demo's data-size curve]({figures}/data_size.png)",
        "",
        full_grid_cost(),
    ]
    return "\n".join(lines)


def full_grid_cost() -> str:
    """How many trainings the full grid holds (config/config.yaml's claims keys), and what Model A's share
    costs at the rate of the real-data 100-epoch run (Model B was never run on the real data)."""
    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
    config = with_defaults(yaml.safe_load((ROOT / "config/config.yaml").read_text()) or {}, schema)
    claims = load_claims(
        ROOT / "config/claims.yaml", ROOT / "config/claims.schema.yaml", ROOT / "config/schema.yaml"
    )
    grid = make_grid(config, claims, schema)
    runs = grid.runs()
    a_runs = [(v, s) for m, v, s in runs if m == "A"]
    info = json.loads((RUNS / "real_model_a_train_info.json").read_text())
    epochs = config["model_a"]["epochs"]
    rate = info["train_time_s"] / (info["epochs_run"] * grid.n_train)  # s per epoch and training image
    a_secs = sum(rate * epochs * grid.sizes.get(v, grid.n_train) for v, _ in a_runs)
    return (
        f"The full grid on the real data (`snakemake claims`, the defaults of `config/config.yaml`) holds "
        f"{len(runs)} trainings ({len(a_runs)} of Model A, {len(runs) - len(a_runs)} of Model B; "
        f"{len(grid.seeds)} seeds each). At the rate of this workflow's real-data run of Model A "
        f"({info['train_time_s']:,.0f} s for {info['epochs_run']} epochs on 2 CPU cores), Model A's share is "
        f"about {a_secs / 3600:,.0f} CPU-hours; Model B's has not been measured on the real data (it needs "
        "the ImageNet weights). Each training is its own job, so a cluster runs them side by side, one GPU "
        "each; `snakemake claims -n` prints the count and an estimate from your own benchmark files (before"
        " any, from the bench's rates)."
    )


# document (relative to DOCS_ROOT) -> its blocks
BLOCKS = {
    "README.md": {"study": study_block, "demo": demo_block, "real": real_block},
    "docs/method.md": {"study": study_block},
    "docs/results.md": {"real": real_block},
    "docs/claims.md": {"claims": claims_block},
}


def fill(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), flags=re.S)
    if not pattern.search(text):
        raise SystemExit(f"ERROR: no {start} ... {end} block to fill")
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 if a block differs; change nothing")
    p.add_argument("--collect", type=Path, help="a demo run's results folder to copy into docs/runs/demo/")
    p.add_argument("--collect-real", action="store_true", help=f"copy the real-data runs of {REAL}")
    a = p.parse_args()
    if a.collect:
        collect(a.collect)
    elif a.collect_real:
        collect_real()
    stale = []
    for doc, blocks in BLOCKS.items():
        path = DOCS_ROOT / doc
        text = new = path.read_text()
        for name, make in blocks.items():
            new = fill(new, name, make())
        if new != text:
            stale.append(doc)
            if not a.check:
                path.write_text(new)
    if a.check and stale:
        print(f"out of date: {', '.join(stale)} (run python docs/fill_numbers.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
