"""The claims figures from hand-made claims.csv and data_size.csv tables: panels, rows, the no-effect
line, verdict colours, the data-size axis, and the command line's files and errors."""

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_hex

from workflow_scripts.claims_figures import VERDICT_GROUP, VERDICT_STYLE, data_size, forest, main
from workflow_scripts.claims_table import COLUMNS
from workflow_scripts.figure_names import MODEL_NAMES

ROOT = Path(__file__).resolve().parents[1]

ROWS = [  # claim, model, metric, unit, effect, lo, hi, seeds, verdict
    ("a_bn_before_relu", "A", "age_mae", "years", 0.3, 0.1, 0.5, 5, "supported"),
    ("a_bn_before_relu", "A", "gender_accuracy", "points", -0.4, -1.2, 0.3, 5, "not shown"),
    ("a_dropout", "A", "age_mae", "years", -0.2, -0.5, -0.05, 5, "contradicted"),
    ("b_unfreeze", "B", "age_mae", "years", 0.5, np.nan, np.nan, 1, "not shown (one seed)"),
    ("b_unfreeze", "B", "val_age_mae_jumps", "years", 0.1, -0.3, 0.6, 5, "not shown"),
    ("ab_time", "A vs B", "train_time", "ratio", 0.8, 0.6, 1.1, 5, "not shown"),
]


def _claims(rows=ROWS) -> pd.DataFrame:
    df = pd.DataFrame(
        rows, columns=["claim", "model", "metric", "unit", "effect", "lo", "hi", "seeds", "verdict"]
    )
    for col in ("quote", "changed", "note"):
        df[col] = ""
    df["study_says"], df["baseline"], df["variant"] = "baseline_better", 1.0, 1.0 + df["effect"]
    df["p_better"], df["n_images"] = np.nan, 100
    return df[COLUMNS]


def _curve(models="AB", sizes=(500, 2000, 8000), one_seed=False) -> pd.DataFrame:
    rows = []
    for m in models:
        for n in sizes:
            for metric, unit, mean in (
                ("age_mae", "years", 9 - np.log10(n)),
                ("gender_accuracy", "points", 85.0),
            ):
                lo, hi = (np.nan, np.nan) if one_seed else (mean - 1, mean + 1)
                rows.append((m, n, metric, unit, mean, lo, hi, 1 if one_seed else 3))
    return pd.DataFrame(rows, columns=["model", "n_train", "metric", "unit", "mean", "lo", "hi", "seeds"])


def _points(ax) -> list[tuple[float, float, str]]:
    """(x, y, colour) of every marker on the panel."""
    out = []
    for coll in ax.collections:
        if isinstance(coll, PathCollection):
            color = to_hex(coll.get_facecolor()[0])
            out += [(x, y, color) for x, y in coll.get_offsets()]
    return sorted(out, key=lambda p: p[1])


def _no_effect(ax) -> list[float]:
    return [line.get_xdata()[0] for line in ax.get_lines() if line.get_label() == "no effect"]


def test_one_panel_per_unit_with_its_rows_in_csv_order():
    claims = _claims()
    fig = forest(claims)
    assert len(fig.axes) == 3  # years, points, ratio
    for ax, unit in zip(fig.axes, ["years", "points", "ratio"], strict=True):
        rows = claims[claims["unit"] == unit]
        assert unit in ax.get_xlabel()
        assert len(_points(ax)) == len(rows)
        assert [p[0] for p in _points(ax)] == pytest.approx(list(rows["effect"]))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    # b_unfreeze has two rows among the years: its metric tells them apart; a_bn_before_relu has one here
    assert labels == [
        "a_bn_before_relu",
        "a_dropout",
        "b_unfreeze · age_mae",
        "b_unfreeze · val_age_mae_jumps",
    ]
    assert fig.axes[0].get_ylim()[0] > fig.axes[0].get_ylim()[1]  # first CSV row on top


def test_no_effect_line_is_at_one_for_a_ratio_and_zero_otherwise():
    fig = forest(_claims())
    assert [_no_effect(ax) for ax in fig.axes] == [[0.0], [0.0], [1.0]]
    assert "variant / baseline" in fig.axes[2].get_xlabel()
    assert "variant − baseline" in fig.axes[0].get_xlabel()


def test_marker_colours_follow_the_verdicts():
    claims = _claims()
    fig = forest(claims)
    for ax in fig.axes:
        rows = claims[claims["unit"] == ax.get_xlabel().split("(")[1].split(")")[0]]
        want = [VERDICT_STYLE[VERDICT_GROUP[v]][0].lower() for v in rows["verdict"]]
        assert [p[2] for p in _points(ax)] == want
    colours = {VERDICT_STYLE[g][0] for g in ("supported", "contradicted", "not shown")}
    assert len(colours) == 3
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["supported", "contradicted", "not shown"]


def test_intervals_are_drawn_only_where_there_is_one():
    claims = _claims()
    ax = forest(claims).axes[0]
    years = claims[claims["unit"] == "years"]
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = [seg for c in bars for seg in c.get_segments()]
    with_interval = years[years["lo"].notna()]
    assert len(segments) == len(with_interval) == 3
    assert [tuple(s[:, 0]) for s in segments] == [tuple(r) for r in with_interval[["lo", "hi"]].to_numpy()]


def test_a_single_row_without_interval_and_one_verdict():
    fig = forest(
        _claims([("a_x", "A", "best_epoch", "epochs", 2.0, np.nan, np.nan, 1, "not shown (one seed)")])
    )
    (ax,) = fig.axes
    assert [(x, c) for x, _, c in _points(ax)] == [(2.0, VERDICT_STYLE["not shown"][0].lower())]
    assert not [c for c in ax.collections if isinstance(c, LineCollection)]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a_x"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["not shown"]


def test_data_size_has_a_log_axis_with_the_study_size_marked():
    curve = _curve()
    fig = data_size(curve, 8000)
    assert [ax.get_title() for ax in fig.axes] == [
        "Age MAE (lower is better)",
        "Gender accuracy (higher is better)",
    ]
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        assert list(ax.get_xticks()) == [500, 2000, 8000]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["500", "2,000", "8,000"]
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        assert list(lines["the training split (the baseline)"].get_xdata()) == [8000, 8000]
        assert list(lines[MODEL_NAMES["A"]].get_xdata()) == [500, 2000, 8000]
        assert MODEL_NAMES["B"] in lines
    assert "years" in fig.axes[0].get_ylabel() and "points" in fig.axes[1].get_ylabel()


def test_data_size_with_one_seed_and_one_model():
    fig = data_size(_curve(models="B", one_seed=True), 4000)
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert labels == [MODEL_NAMES["B"], "the training split (the baseline)"]
    assert 4000 in fig.axes[0].get_xticks()  # the study's size gets a tick even when not on the curve


def _valid(png, svg):
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ET.parse(svg).getroot().tag.endswith("svg")


def test_cli_writes_png_and_svg(tmp_path):
    _claims().to_csv(tmp_path / "claims.csv", index=False)
    _curve().to_csv(tmp_path / "data_size.csv", index=False)
    out = {k: (tmp_path / f"{k}.png", tmp_path / f"{k}.svg") for k in ("forest", "ds")}
    main(
        [
            "forest",
            "--claims",
            str(tmp_path / "claims.csv"),
            "--png",
            str(out["forest"][0]),
            "--svg",
            str(out["forest"][1]),
        ]
    )
    main(
        [
            "data_size",
            "--data-size",
            str(tmp_path / "data_size.csv"),
            "--study-size",
            "8000",
            "--png",
            str(out["ds"][0]),
            "--svg",
            str(out["ds"][1]),
        ]
    )
    for png, svg in out.values():
        _valid(png, svg)


@pytest.mark.parametrize(
    ("cmd", "frame", "message"),
    [
        ("forest", _claims().iloc[:0], "no claims tested"),
        ("data_size", _curve().iloc[:0], "no data-size curve"),
    ],
)
def test_an_empty_table_still_gives_a_figure(tmp_path, cmd, frame, message):
    csv, png, svg = tmp_path / "in.csv", tmp_path / "f.png", tmp_path / "f.svg"
    frame.to_csv(csv, index=False)
    flag = ["--claims", str(csv)] if cmd == "forest" else ["--data-size", str(csv), "--study-size", "100"]
    main([cmd, *flag, "--png", str(png), "--svg", str(svg)])
    _valid(png, svg)
    assert message in svg.read_text()
    fig = forest(frame) if cmd == "forest" else data_size(frame, 100)
    assert [t.get_text() for t in fig.axes[0].texts] == [message]


def _fails(tmp_path, args) -> str:
    with pytest.raises(SystemExit) as err:
        main([*args, "--png", str(tmp_path / "f.png"), "--svg", str(tmp_path / "f.svg")])
    assert not (tmp_path / "f.png").exists() and not (tmp_path / "f.svg").exists()
    return str(err.value.code)


@pytest.mark.parametrize(
    ("change", "wanted"),
    [
        (lambda d: d.drop(columns="verdict"), "no column 'verdict'"),
        (lambda d: d.drop(columns="hi"), "no column 'hi'"),
        (lambda d: d.assign(effect="big"), "column 'effect' holds 'big', not a number"),
        (lambda d: d.assign(verdict="maybe"), "column 'verdict' holds 'maybe', not one of"),
        (lambda d: d.assign(unit="furlongs"), "column 'unit' holds 'furlongs', not one of"),
    ],
)
def test_bad_claims_table_is_one_error_naming_file_and_column(tmp_path, change, wanted):
    csv = tmp_path / "claims.csv"
    change(_claims()).to_csv(csv, index=False)
    message = _fails(tmp_path, ["forest", "--claims", str(csv)])
    assert message.startswith(f"ERROR: {csv}: ") and wanted in message and "\n" not in message


@pytest.mark.parametrize(
    ("change", "args", "wanted"),
    [
        (lambda d: d.drop(columns="n_train"), [], "no column 'n_train'"),
        (lambda d: d.assign(metric="age_rmse"), [], "column 'metric' holds 'age_rmse'"),
        (lambda d: d.assign(n_train=0), [], "column 'n_train' must be a positive number"),
        (lambda d: d, ["--study-size", "0"], "ERROR: --study-size 0"),
    ],
)
def test_bad_data_size_table_is_one_error(tmp_path, change, args, wanted):
    csv = tmp_path / "data_size.csv"
    change(_curve()).to_csv(csv, index=False)
    message = _fails(tmp_path, ["data_size", "--data-size", str(csv), "--study-size", "8000", *args])
    assert message.startswith("ERROR: ") and wanted in message and "\n" not in message


def test_missing_or_empty_file_is_an_error(tmp_path):
    assert _fails(tmp_path, ["forest", "--claims", str(tmp_path / "none.csv")]).startswith(
        f"ERROR: {tmp_path / 'none.csv'}: not a readable CSV"
    )
    (tmp_path / "zero.csv").write_text("")
    assert "not a readable CSV" in _fails(tmp_path, ["forest", "--claims", str(tmp_path / "zero.csv")])


def test_cli_error_reaches_the_terminal_without_a_traceback(tmp_path):
    csv, log = tmp_path / "claims.csv", tmp_path / "logs" / "forest.log"
    _claims().drop(columns="unit").to_csv(csv, index=False)
    args = [
        "forest",
        "--claims",
        str(csv),
        "--png",
        str(tmp_path / "f.png"),
        "--svg",
        str(tmp_path / "f.svg"),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "workflow_scripts.claims_figures", *args, "--log", str(log)],
        capture_output=True,
        text=True,
        cwd=ROOT,  # this checkout's workflow_scripts
    )
    assert done.returncode != 0
    assert done.stderr.splitlines()[0].startswith(f"ERROR: {csv}: no column 'unit'")
    assert "Traceback" not in done.stderr + log.read_text()
    assert not (tmp_path / "f.png").exists()


def test_rows_alike_but_for_their_model_are_told_apart_and_unmeasured_rows_left_out():
    rows = [("study_data_limited", m, "age_mae", "years", 1.0, 0.5, 1.5, 2, "supported") for m in "AB"]
    rows.append(
        (
            "study_b_less_variance",
            "A vs B",
            "val_age_mae_jumps",
            "years/epoch",
            float("nan"),
            None,
            None,
            2,
            "not shown (too few epochs to measure)",
        )
    )
    fig = forest(_claims(rows))
    (ax,) = fig.axes  # the unmeasured row's unit has no panel
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["study_data_limited · age_mae · A", "study_data_limited · age_mae · B"]
