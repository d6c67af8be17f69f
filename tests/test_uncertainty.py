"""Bootstrap intervals cover the truth at the stated rate; the paired test finds a planted difference and
no absent one; a calibrated predictor has an ECE near 0; group gaps are called only when they are there."""

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.uncertainty import (
    bootstrap_means,
    expected_calibration_error,
    interval,
    largest_gap,
    metric_intervals,
    paired_difference,
)


def test_intervals_cover_the_true_mae_and_accuracy_at_about_95_percent():
    rng = np.random.default_rng(2026)
    sigma, n, trials = 6.0, 300, 200
    true_mae, true_acc = sigma * np.sqrt(2 / np.pi), 0.85
    cover_mae = cover_acc = 0
    for t in range(trials):
        err = np.abs(rng.normal(0, sigma, n))
        correct = (rng.random(n) < true_acc).astype(float)
        samples = bootstrap_means(np.stack([err, correct], 1), None, 1000, seed=t)
        lo, hi = interval(samples[:, 0])
        cover_mae += lo <= true_mae <= hi
        lo, hi = interval(samples[:, 1])
        cover_acc += lo <= true_acc <= hi
    # 200 trials: the binomial standard error of a 95% rate is 1.5 points
    assert 0.90 <= cover_mae / trials <= 0.99
    assert 0.90 <= cover_acc / trials <= 0.99


def test_the_same_seed_gives_the_same_interval_and_another_seed_a_slightly_other():
    x = np.random.default_rng(1).random((500, 1))
    a, b = bootstrap_means(x, None, 500, 3), bootstrap_means(x, None, 500, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, bootstrap_means(x, None, 500, 4))


def test_paired_difference_finds_a_planted_difference_and_no_absent_one():
    rng = np.random.default_rng(5)
    n = 1000
    a = np.abs(rng.normal(0, 6, n))
    better = paired_difference(a, a * 0.9 + rng.normal(0, 0.5, n), seed=1)  # b is 10% better
    assert better["low"] > 0 and better["difference"] == pytest.approx(0.1 * a.mean(), abs=0.1)
    flagged = 0
    for t in range(100):
        b = a + rng.normal(0, 1.0, n)  # no real difference, only noise
        d = paired_difference(a, b, n_boot=500, seed=t)
        flagged += not (d["low"] <= 0 <= d["high"])
    assert flagged <= 12  # about 5 expected


def test_a_perfectly_calibrated_predictor_has_an_ece_near_zero_and_a_skewed_one_does_not():
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = (rng.random(p.size) < p).astype(int)
    good = expected_calibration_error(p, y)
    assert good["ece"] < 0.01 and sum(good["count"]) == p.size
    assert np.allclose(good["observed"], good["mean_prob"], atol=0.02)
    assert expected_calibration_error(p**2, y)["ece"] > 0.1  # over-confident towards 0


def test_metric_intervals_per_group_bracket_the_point_estimate():
    rng = np.random.default_rng(3)
    n = 2000
    err = rng.normal(0, 5, n)
    pred = pd.DataFrame({"abs_err": np.abs(err), "sq_err": err**2, "correct": (rng.random(n) < 0.9) * 1.0})
    groups = {"by_race": pd.Series(rng.integers(0, 3, n)).map({0: "White", 1: "Black", 2: "Asian"})}
    ci = metric_intervals(pred, groups, n_boot=500, seed=1)
    assert ci["age_mae"][0] < pred["abs_err"].mean() < ci["age_mae"][1]
    assert ci["age_rmse"][0] < np.sqrt(pred["sq_err"].mean()) < ci["age_rmse"][1]
    white = groups["by_race"] == "White"
    lo, hi = ci["by_race"]["White"]["gender_accuracy"]
    assert lo < pred.loc[white, "correct"].mean() < hi
    # a group's interval is wider than the overall one: fewer images
    assert hi - lo > ci["gender_accuracy"][1] - ci["gender_accuracy"][0]


def test_largest_gap_is_called_a_gap_only_when_its_interval_excludes_zero():
    rng = np.random.default_rng(4)
    n = 3000
    labels = pd.Series(rng.integers(0, 3, n)).map({0: "a", 1: "b", 2: "c"})
    err = np.abs(rng.normal(0, 5, n)) + np.where(labels == "c", 2.0, 0.0)
    gap = largest_gap(err, labels, seed=1)
    assert gap["high_group"] == "c" and gap["is_gap"] and gap["low"] > 0
    # no real difference: the largest of three pairs is picked, and its simultaneous interval keeps the
    # false alarms near the stated 5%
    noise = [np.abs(rng.normal(0, 5, n)) for _ in range(100)]
    false = sum(largest_gap(x, labels, n_boot=400, seed=t)["is_gap"] for t, x in enumerate(noise))
    assert false <= 12
    assert largest_gap(err, pd.Series(["a"] * n)) is None


def test_verdicts_say_inside_outside_and_who_is_better_in_words():
    from workflow_scripts import verdicts

    table = pd.DataFrame(
        [{"model": "A", "published_val_age_mae": 6.58, "val_age_mae_low": 6.3, "val_age_mae_high": 6.9,
          "published_val_gender_accuracy": 0.9, "val_gender_accuracy_low": 0.85,
          "val_gender_accuracy_high": 0.88},
         {"model": "baseline"}]
    )  # fmt: skip
    text = " ".join(verdicts.study_inside(table))
    assert "the study's 6.58 lies inside our interval [6.3, 6.9]" in text
    assert "the study's 90.0% lies outside our interval [85.0, 88.0], 2.0 pp above it" in text
    diff = {"n": 100, "confidence": 0.95,
            "age_mae": {"difference": 0.5, "low": 0.1, "high": 0.9},
            "gender_accuracy": {"difference": 0.01, "low": -0.02, "high": 0.04}}  # fmt: skip
    lines = verdicts.model_difference(diff)
    assert lines[0].startswith("Age MAE, A minus B") and lines[0].endswith("Model B is better.")
    assert lines[1].endswith("the data cannot tell which model is better.")
    assert all(", 95% paired interval [" in line for line in lines)


def test_the_headline_of_several_seeds_gives_their_mean_and_two_level_interval():
    from workflow_scripts import verdicts

    test = {m: {"n": 500, "gender_accuracy": 0.8, "age_mae": 9.0,
                "ci": {"gender_accuracy": [0.77, 0.83], "age_mae": [8.5, 9.5], "confidence": 0.95}}
            for m in "AB"}  # fmt: skip
    table = pd.DataFrame(
        [{"model": "A", "seeds": 3, "test_gender_accuracy": 0.85, "test_gender_accuracy_low": 0.8,
          "test_gender_accuracy_high": 0.9, "test_age_mae": 8.0, "test_age_mae_low": 7.0,
          "test_age_mae_high": 9.5},
         {"model": "B", "seeds": 1}, {"model": "baseline", "seeds": None}]
    )  # fmt: skip
    a, b = verdicts.headline_seeds(table, test)
    assert a.startswith(
        "Model A on 500 unseen test images, mean of 3 seeds: gender accuracy 85.0% [80.0, 90.0],"
    )
    assert "age MAE 8.00 [7.0, 9.5] years" in a and "two-level bootstrap" in a
    assert b == verdicts.headline({"B": test["B"]})[0]  # one seed: its own run's interval
