"""The claims table from planted runs: a known effect is found with the right sign, unit and verdict, a
claim that the variant is better reads the verdict the other way, the study-wide claims and the data-size
curve come from the baselines, and the page escapes what it shows."""

import json
import subprocess
import sys
import zlib

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT

from workflow_scripts import claims_page, claims_table
from workflow_scripts.claims_grid import STUDY

N_IMG = 400
BOOT = {"n_boot": 500, "confidence": 0.95, "seed": 1}


def _write_run(d, rng, age_err, p_correct, train_time=100.0, best_epoch=5, params=1000, jump=0.0):
    """One run's files: test predictions with |error| ~ age_err and accuracy ~ p_correct, train_info and a
    history whose validation curves wobble by `jump` each epoch."""
    d.mkdir(parents=True)
    ages = np.arange(N_IMG) % 80 + 1
    genders = np.arange(N_IMG) % 2
    sign = np.where(rng.random(N_IMG) < 0.5, -1, 1)
    correct = rng.random(N_IMG) < p_correct
    pd.DataFrame(
        {
            "path": [f"UTKFace/{i}.jpg" for i in range(N_IMG)],
            "age": ages,
            "gender": genders,
            "pred_age": ages + sign * rng.exponential(age_err, N_IMG),
            "pred_gender": np.where(correct, genders, 1 - genders),
        }
    ).to_csv(d / "p.csv", index=False)
    info = {
        "train_time_s": train_time,
        "best_epoch": best_epoch,
        "trainable_params": params,
        "host": "h",
        "gpus": [],
    }
    (d / "i.json").write_text(json.dumps(info))
    wobble = jump * (np.arange(10) % 2)
    pd.DataFrame(
        {"val_age_mae": 8 - 0.1 * np.arange(10) + wobble, "val_gender_accuracy": 0.8 + wobble / 100}
    ).to_csv(d / "h.csv", index=False)
    return claims_table.Run(str(d / "p.csv"), str(d / "i.json"), str(d / "h.csv"))


CLAIM = {
    "id": "a_x",
    "model": "A",
    "quote": '=HYPERLINK("x") <b>bold</b>',
    "variant": {"model_a": {"x": 1}},
    "metrics": ["age_mae", "gender_accuracy", "best_epoch"],
    "study_says": "baseline_better",
}


def _runs(tmp_path, seeds, arms):
    """arms: (model, variant) -> kwargs of _write_run, the same for every seed (seed noise from the rng)."""
    runs = {}
    for (m, v), kw in arms.items():
        for s in seeds:
            rng = np.random.default_rng([s, zlib.crc32(f"{m}/{v}".encode())])
            runs[(m, v, s)] = _write_run(tmp_path / f"{m}_{v}_{s}", rng, **kw)
    return runs


# the baseline, one variant and B, all planted alike: no effect anywhere
ALIKE = {arm: {"age_err": 5.0, "p_correct": 0.8} for arm in (("A", STUDY), ("A", "a_x"), ("B", STUDY))}


def _spec(seeds, claims=(CLAIM,), curve=()):
    return {"baseline": STUDY, "seeds": seeds, "claims": list(claims), "curve": list(curve), "n_train": 800}


@pytest.fixture
def table(tmp_path):
    seeds = [1, 2, 3]
    arms = {
        ("A", STUDY): {"age_err": 5.0, "p_correct": 0.85},
        ("A", "a_x"): {"age_err": 7.0, "p_correct": 0.85, "best_epoch": 5},
        ("B", STUDY): {"age_err": 4.0, "p_correct": 0.95, "train_time": 101.0, "jump": 0.0},
        ("A", "n200"): {"age_err": 9.0, "p_correct": 0.7},
        ("B", "n200"): {"age_err": 8.0, "p_correct": 0.8},
    }
    runs = _runs(tmp_path, seeds, arms)
    for s in seeds:  # A's curves wobble, B's do not
        runs[("A", STUDY, s)] = _write_run(
            tmp_path / f"A_wobbly_{s}", np.random.default_rng(s), 5.0, 0.85, jump=1.0
        )
    return claims_table.claims_table(_spec(seeds, curve=[(200, "n200"), (800, STUDY)]), runs, BOOT, "B note")


def _row(t, claim, metric, model=None):
    rows = t[(t["claim"] == claim) & (t["metric"] == metric)]
    if model:
        rows = rows[rows["model"] == model]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_a_planted_effect_is_found_with_its_sign_unit_and_verdict(table):
    t, _ = table
    age = _row(t, "a_x", "age_mae")
    assert age["unit"] == "years" and age["verdict"] == "supported"
    assert 1.5 < age["effect"] < 2.5 and age["lo"] > 0 and age["seeds"] == 3 and age["n_images"] == N_IMG
    assert age["p_better"] < 0.05
    acc = _row(t, "a_x", "gender_accuracy")
    assert acc["unit"] == "points" and acc["lo"] < 0 < acc["hi"] and acc["verdict"] == "not shown"
    epoch = _row(t, "a_x", "best_epoch")
    assert epoch["effect"] == 0 and epoch["verdict"] == "not shown"
    assert age["changed"] == "model_a.x: 1"


def test_the_study_wide_claims_come_from_the_baselines(table):
    t, _ = table
    b = _row(t, "study_b_beats_a", "age_mae")
    assert b["model"] == "A vs B" and b["effect"] < 0 and b["verdict"] == "supported"  # B's error is lower
    assert _row(t, "study_b_beats_a", "gender_accuracy")["verdict"] == "supported"
    jumps = _row(t, "study_b_less_variance", "val_age_mae_jumps")
    assert jumps["unit"] == "years/epoch" and jumps["effect"] < 0 and jumps["verdict"] == "supported"
    time = _row(t, "study_same_train_time", "train_time")
    assert time["unit"] == "ratio" and time["effect"] == pytest.approx(1.01)
    assert time["verdict"] == "supported"  # within 1.25x either way, every seed alike
    # no size above the study's: is the study's still better than fewer images?
    limited = _row(t, "study_data_limited", "age_mae", model="B")
    assert limited["study_says"] == "baseline_better" and limited["verdict"] == "supported"
    assert limited["changed"] == "training images: 800 -> 200"


def test_every_row_with_model_b_carries_the_note(table):
    t, _ = table
    with_b = t["model"].str.contains("B")
    assert with_b.any() and (t.loc[with_b, "note"].str.startswith("B note")).all()
    assert t.loc[~with_b, "note"].isna().all()


def test_the_data_size_curve_has_a_point_per_model_size_and_metric(table):
    _, curve = table
    assert len(curve) == 2 * 2 * 2
    a = curve[(curve["model"] == "A") & (curve["metric"] == "age_mae")].sort_values("n_train")
    assert a["n_train"].tolist() == [200, 800]
    assert a["mean"].iloc[0] > a["mean"].iloc[1]  # fewer images, larger error, as planted
    assert (a["lo"] < a["mean"]).all() and (a["mean"] < a["hi"]).all()


def test_a_claim_that_the_variant_is_better_reads_the_verdict_the_other_way(tmp_path):
    seeds = [1, 2, 3, 4]
    runs = _runs(
        tmp_path,
        seeds,
        {
            ("A", STUDY): {"age_err": 5.0, "p_correct": 0.8},
            ("A", "a_x"): {"age_err": 3.0, "p_correct": 0.8},
            ("B", STUDY): {"age_err": 5.0, "p_correct": 0.8},
        },
    )
    claim = {**CLAIM, "metrics": ["age_mae"]}
    better = claims_table.claims_table(_spec(seeds, [{**claim, "study_says": "variant_better"}]), runs, BOOT)[
        0
    ]
    worse = claims_table.claims_table(_spec(seeds, [claim]), runs, BOOT)[0]
    assert _row(better, "a_x", "age_mae")["verdict"] == "supported"
    assert _row(worse, "a_x", "age_mae")["verdict"] == "contradicted"


def test_one_seed_gives_effects_but_no_verdict_and_says_so(tmp_path):
    runs = _runs(
        tmp_path,
        [1],
        {
            ("A", STUDY): {"age_err": 5.0, "p_correct": 0.8},
            ("A", "a_x"): {"age_err": 9.0, "p_correct": 0.8},
            ("B", STUDY): {"age_err": 5.0, "p_correct": 0.8},
        },
    )
    t, _ = claims_table.claims_table(_spec([1]), runs, BOOT)
    age = _row(t, "a_x", "age_mae")
    assert age["effect"] > 2 and pd.isna(age["lo"]) and age["verdict"] == "not shown (one seed)"
    assert set(t["verdict"]) == {"not shown (one seed)"}
    assert claims_page.effect_text(age).endswith("years (one seed: no interval)")


def test_runs_scored_on_other_test_images_are_an_error_naming_the_file(tmp_path):
    runs = _runs(
        tmp_path,
        [1, 2],
        ALIKE,
    )
    runs[("A", "a_x", 2)].pred = runs[("A", "a_x", 2)].pred.iloc[::-1]
    with pytest.raises(ValueError, match=r"A_a_x_2/p.csv scores other test images"):
        claims_table.claims_table(_spec([1, 2]), runs, BOOT)


def test_the_cli_writes_a_table_the_page_shows_escaped(tmp_path, table):
    t, _ = table
    runs = _runs(
        tmp_path / "r",
        [1, 2],
        {
            ("A", STUDY): {"age_err": 5.0, "p_correct": 0.8},
            ("A", "a_x"): {"age_err": 6.0, "p_correct": 0.8},
            ("B", STUDY): {"age_err": 5.0, "p_correct": 0.9},
        },
    )
    keys = list(runs)
    args = ["--grid", json.dumps(_spec([1, 2])), "--runs", *[f"{m}/{v}/{s}" for m, v, s in keys]]
    for flag, attr in (("--predictions", "p.csv"), ("--info", "i.json"), ("--history", "h.csv")):
        args += [flag, *[str(tmp_path / "r" / f"{m}_{v}_{s}" / attr) for m, v, s in keys]]
    out = tmp_path / "claims.csv"
    cmd = [
        sys.executable,
        "-m",
        "workflow_scripts.claims_table",
        *args,
        "--bootstrap",
        "200",
        "--confidence",
        "0.95",
        "--seed",
        "3",
        "--csv",
        str(out),
        "--data-size",
        str(tmp_path / "ds.csv"),
    ]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    read = claims_page.read_claims(out)
    assert read["quote"].iloc[0].startswith("'=HYPERLINK")  # a spreadsheet shows it, never runs it
    assert len(read) == 3 + 2 + 2 + 1 and read["seeds"].eq(2).all()
    page = tmp_path / "claims.html"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "workflow_scripts.claims_page",
            "--claims",
            str(out),
            "--grid",
            json.dumps(_spec([1, 2])),
            "--confidence",
            "0.95",
            "--synthetic",
            "--template",
            str(ROOT / "report/claims.html.j2"),
            "--out",
            str(page),
        ],
        check=True,
        cwd=ROOT,
    )
    html = page.read_text()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold" not in html
    assert (
        "Demo numbers" in html and "the same 2 seeds (1, 2)" in html and f"same {N_IMG} test images" in html
    )
    assert html.count('<tr class="verdict-') == len(read)


def test_what_cannot_be_measured_is_not_shown_with_its_reason(tmp_path):
    seeds = [1, 2]
    runs = _runs(tmp_path, seeds, ALIKE)
    for s in seeds:  # B's runs: two epochs of history, and another machine
        r = runs[("B", STUDY, s)]
        r.history = r.history.iloc[:2]
        r.info["host"] = "other"
    t, _ = claims_table.claims_table(_spec(seeds), runs, BOOT)
    jumps = _row(t, "study_b_less_variance", "val_age_mae_jumps")
    assert jumps["verdict"] == "not shown (too few epochs to measure)" and pd.isna(jumps["effect"])
    assert (
        _row(t, "study_same_train_time", "train_time")["verdict"]
        == "not shown (trained on different hardware)"
    )


def test_a_frozen_phase_is_not_counted_as_jumps(tmp_path):
    run = _write_run(tmp_path / "r", np.random.default_rng(0), 5.0, 0.8)
    steady = claims_table.jumps(run, "val_age_mae")
    run.history["phase"] = ["frozen"] * 3 + ["unfrozen"] * 7
    run.history.loc[:2, "val_age_mae"] += 5.0  # the frozen phase sits 5 years higher: one step at unfreezing
    assert claims_table.jumps(run, "val_age_mae") == pytest.approx(steady)


def test_the_variant_must_score_the_baselines_images(tmp_path):
    runs = _runs(
        tmp_path,
        [1, 2],
        ALIKE,
    )
    for s in (1, 2):  # the variant's two seeds agree with each other, not with the baseline
        runs[("A", "a_x", s)].pred = runs[("A", "a_x", s)].pred.iloc[::-1]
    with pytest.raises(ValueError, match="scores other test images"):
        claims_table.claims_table(_spec([1, 2]), runs, BOOT)


def test_curve_intervals_stay_within_what_the_metric_can_be(tmp_path):
    runs = _runs(
        tmp_path,
        [1, 2],
        {
            ("A", STUDY): {"age_err": 1.0, "p_correct": 0.99},
            ("B", STUDY): {"age_err": 1.0, "p_correct": 0.5},
            ("A", "n9"): {"age_err": 30.0, "p_correct": 0.02},
            ("B", "n9"): {"age_err": 1.0, "p_correct": 0.5},
        },
    )
    _, curve = claims_table.claims_table(
        _spec([1, 2], claims=(), curve=[(9, "n9"), (800, STUDY)]), runs, BOOT
    )
    acc = curve[curve["metric"] == "gender_accuracy"]
    assert (acc["lo"] >= 0).all() and (acc["hi"] <= 100).all() and (curve["lo"] >= 0).all()
