"""The claims table in HTML: its own page (claims.html) and the report's section, both from
the Jinja2 templates under report/ with autoescaping (a quote or a claim id is text, never markup)."""

from __future__ import annotations

import argparse
import base64
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .claims_table import COLUMNS
from .comparison import render_html
from .fileio import atomic_path, setup_logging
from .formats import percent
from .step import run

log = logging.getLogger("utkface.claims")
FIGURE_TITLES = {
    "forest": "Effects of the variants, with their intervals (a point right of zero: the variant is higher)",
    "data_size": "Test metrics against training images, both models (log axis)",
}


def _num(x: float, unit: str) -> str:
    return f"{x:+,.0f}" if unit == "parameters" else f"{x:+.2f}"


def effect_text(row: Mapping[str, Any]) -> str:
    """An effect and its interval in words, e.g. `+0.41 years [+0.12, +0.70]`, `x1.08 [0.95, 1.22]`."""
    unit, missing = row["unit"], pd.isna(row["lo"])
    if pd.isna(row["effect"]):
        return "not measured"
    if unit == "ratio":
        text = f"×{row['effect']:.2f}"
        return text + (" (one seed: no interval)" if missing else f" [{row['lo']:.2f}, {row['hi']:.2f}]")
    text = f"{_num(row['effect'], unit)} {unit}"
    return text + (
        " (one seed: no interval)" if missing else f" [{_num(row['lo'], unit)}, {_num(row['hi'], unit)}]"
    )


def html_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The claims table's rows for the templates, each with its effect and probability in words."""
    rows = []
    for row in table.to_dict("records"):
        p = row["p_better"]
        note = row["note"] if isinstance(row["note"], str) else ""
        rows.append(
            {
                **row,
                "note": note,
                "effect_text": effect_text(row),
                "p_text": "" if pd.isna(p) else percent(p, 0),
            }
        )
    return rows


def read_claims(path: str | os.PathLike) -> pd.DataFrame:
    """claims.csv as written (text stays text)."""
    text = ["claim", "model", "metric", "unit", "quote", "changed", "study_says", "verdict", "note"]
    return pd.read_csv(
        path,
        dtype={c: str for c in text},
        keep_default_na=False,
        na_values={c: [""] for c in COLUMNS if c not in text},
    )


def figure(path: str | os.PathLike) -> dict[str, str]:
    """A figure for the templates, embedded (the page stands alone)."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return {
        "src": f"data:image/png;base64,{data}",
        "title": FIGURE_TITLES.get(Path(path).stem, Path(path).stem),
    }


def page_context(
    table: pd.DataFrame, figures: list[str], grid: Mapping[str, Any], synthetic: bool, confidence: float
) -> dict[str, Any]:
    n_test = table["n_images"].dropna()
    return {
        "claims": html_rows(table),
        "figures": [figure(f) for f in figures],
        "seeds": grid["seeds"],
        "n_test": int(n_test.iloc[0]) if len(n_test) else 0,
        "synthetic": synthetic,
        "confidence": confidence,
    }


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    import json

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--claims", required=True, help="claims.csv")
    p.add_argument("--figures", nargs="*", default=[], help="PNGs to show under the table")
    p.add_argument("--grid", required=True, help="the grid's spec as JSON")
    p.add_argument("--confidence", type=float, required=True)
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--template", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    setup_logging()
    table = read_claims(a.claims)
    ctx = page_context(table, a.figures, json.loads(a.grid), a.synthetic, a.confidence)
    with atomic_path(a.out, ".html") as tmp:
        tmp.write_text(render_html(a.template, ctx))
    log.info("%s: %d rows", a.out, len(table))


if __name__ == "__main__":
    run(main)
