"""The claims' statistics on planted data: the two-level paired interval covers the true effect at about
its rate where an image-only one does not; no effect is "not shown", a large one is found on the right
side for either metric direction; one seed never gives a verdict; mismatched runs are refused."""

import numpy as np
import pytest

from workflow_scripts.claims_stats import (
    CONTRADICTED,
    NOT_SHOWN,
    ONE_SEED,
    SUPPORTED,
    curve_variance,
    paired_effect,
    paired_effect_scalar,
    seed_widening,
    student_t_quantile,
    verdict,
)
from workflow_scripts.uncertainty import paired_difference


def planted(rng, delta, k=5, n=400, seed_sd=0.5, image_sd=0.3):
    """(baseline, variant) per-image values, (k, n): image difficulty and a per-seed offset shared by both
    arms (pairing removes them), the variant's training-run noise (seed_sd, dominating the interval), its
    per-image gain varying across images (image_sd, test-sample noise) and per-run image noise."""
    difficulty, gain = rng.normal(0, 1, n), rng.normal(0, image_sd, n)
    shared, run = rng.normal(0, 1, k)[:, None], rng.normal(0, seed_sd, k)[:, None]
    baseline = 3 + difficulty + shared + rng.normal(0, 1, (k, n))
    variant = 3 + delta + difficulty + gain + shared + run + rng.normal(0, 1, (k, n))
    return baseline, variant


def test_two_level_interval_covers_the_true_effect_where_image_only_and_uncorrected_ones_do_not():
    rng = np.random.default_rng(2026)
    trials, delta = 200, 0.5
    cover = {"two-level": 0, "no small-k correction": 0, "images only": 0}
    for t in range(trials):
        b, v = planted(rng, delta)
        r = paired_effect(b, v, higher_is_better=False, n_boot=300, seed=t)
        cover["two-level"] += r["lo"] <= delta <= r["hi"]
        r = paired_effect(b, v, higher_is_better=False, n_boot=300, seed=t, small_k_correction=False)
        cover["no small-k correction"] += r["lo"] <= delta <= r["hi"]
        # the project's one-level bootstrap: images resampled, the 5 training runs taken as fixed
        r = paired_difference(v.mean(axis=0), b.mean(axis=0), n_boot=300, seed=t)
        cover["images only"] += r["low"] <= delta <= r["high"]
    rate = {key: c / trials for key, c in cover.items()}
    # 200 trials: the binomial standard error of a 95% rate is 1.5 points
    assert 0.90 <= rate["two-level"] <= 0.99, rate
    # seed noise dominates and 5 seeds are few: without t quantiles the interval is too narrow
    assert rate["no small-k correction"] < 0.92, rate
    # test images alone miss the training-run noise: far too narrow
    assert rate["images only"] < 0.70, rate


def test_no_effect_is_not_shown_in_at_least_90_percent_of_trials():
    rng = np.random.default_rng(7)
    calls = [verdict(paired_effect(*planted(rng, 0.0), higher_is_better=False, n_boot=300, seed=t))
             for t in range(200)]  # fmt: skip
    assert calls.count(NOT_SHOWN) / len(calls) >= 0.90


@pytest.mark.parametrize(
    ("delta", "higher_is_better", "expected"),
    [
        (2.0, False, SUPPORTED),  # MAE up with the variant: the study's choice is better
        (-2.0, False, CONTRADICTED),  # MAE down with the variant
        (2.0, True, CONTRADICTED),  # accuracy up with the variant
        (-2.0, True, SUPPORTED),  # accuracy down with the variant
    ],
)
def test_a_large_effect_is_found_on_the_side_the_metric_direction_says(delta, higher_is_better, expected):
    rng = np.random.default_rng(11)
    results = [paired_effect(*planted(rng, delta), higher_is_better=higher_is_better, n_boot=300, seed=t)
               for t in range(50)]  # fmt: skip
    assert sum(verdict(r) == expected for r in results) >= 48
    r = results[0]
    assert np.sign(r["effect"]) == np.sign(delta)  # always variant - baseline, in metric units
    assert r["variant_worse"] == (expected == SUPPORTED)
    assert (r["p_better"] > 0.975) == (expected == CONTRADICTED)


def test_a_drop_in_gender_accuracy_from_correct_flags_supports_the_study():
    rng = np.random.default_rng(5)
    baseline = (rng.random((5, 2000)) < 0.90).astype(float)
    variant = (rng.random((5, 2000)) < 0.80).astype(float)
    r = paired_effect(baseline, variant, higher_is_better=True, n_boot=500, seed=0)
    assert r["effect"] == pytest.approx(-0.10, abs=0.01)
    assert verdict(r) == SUPPORTED and r["p_better"] == 0.0
    assert (r["k_seeds"], r["n_images"]) == (5, 2000)


def test_one_seed_never_gives_a_verdict_however_large_the_effect():
    b = np.zeros((1, 100))
    r = paired_effect(b, b + 10.0, higher_is_better=False, n_boot=200, seed=0)
    assert verdict(r) == ONE_SEED and r["lo"] is None and r["p_better"] is None
    assert r["effect"] == 10.0
    r = paired_effect_scalar([3.0], [30.0], higher_is_better=False, n_boot=200, seed=0)
    assert verdict(r) == ONE_SEED
    assert verdict({"k_seeds": 1, "lo": 1.0, "hi": 2.0, "higher_is_better": False}) == ONE_SEED


@pytest.mark.parametrize(
    ("baseline_shape", "variant_shape", "message"),
    [
        ((5, 100), (4, 100), "baseline has 5 seeds but variant has 4"),
        ((5, 100), (5, 99), "baseline has 100 images per seed but variant has 99"),
        ((100,), (100,), r"baseline must be a non-empty array of shape \(seeds, images\)"),
        ((5, 0), (5, 0), "baseline must be a non-empty array"),
    ],
)
def test_mismatched_runs_are_refused_naming_what_differs(baseline_shape, variant_shape, message):
    with pytest.raises(ValueError, match=message):
        paired_effect(np.zeros(baseline_shape), np.zeros(variant_shape), higher_is_better=False)


def test_scalar_mismatch_and_non_finite_values_are_refused():
    with pytest.raises(ValueError, match="baseline has 3 seeds but variant has 2"):
        paired_effect_scalar([1, 2, 3], [1, 2], higher_is_better=False)
    with pytest.raises(ValueError, match="variant has 1 non-finite values"):
        paired_effect(np.zeros((2, 3)), [[0, 0, 0], [0, np.nan, 0]], higher_is_better=False)


def test_the_same_seed_gives_the_same_interval_and_another_seed_a_slightly_other():
    b, v = planted(np.random.default_rng(3), 0.5)
    a = paired_effect(b, v, higher_is_better=False, n_boot=400, seed=9)
    assert a == paired_effect(b, v, higher_is_better=False, n_boot=400, seed=9)
    c = paired_effect(b, v, higher_is_better=False, n_boot=400, seed=10)
    assert (a["lo"], a["hi"]) != (c["lo"], c["hi"]) and a["effect"] == c["effect"]
    s = paired_effect_scalar(b.mean(1), v.mean(1), higher_is_better=False, n_boot=400, seed=9)
    assert s == paired_effect_scalar(b.mean(1), v.mean(1), higher_is_better=False, n_boot=400, seed=9)


def test_scalar_effect_is_paired_by_seed_and_covers_at_about_its_rate():
    rng = np.random.default_rng(13)
    trials, delta, cover, widths = 200, 1.0, 0, []
    for t in range(trials):
        shared = rng.normal(0, 20, 5)  # e.g. a seed's data order: large, the same in both arms
        baseline = 30 + shared + rng.normal(0, 1, 5)
        variant = 30 + delta + shared + rng.normal(0, 1, 5)
        r = paired_effect_scalar(baseline, variant, higher_is_better=False, n_boot=300, seed=t)
        cover += r["lo"] <= delta <= r["hi"]
        widths.append(r["hi"] - r["lo"])
    assert 0.90 <= cover / trials <= 0.99
    # pairing: the width follows the 1-epoch noise (about 3.5), not the shared 20 (unpaired: about 70)
    assert np.median(widths) < 5


def test_student_t_quantiles_match_the_tables_and_the_seed_widening_follows():
    for df, q, table in [(1, 0.975, 12.7062), (2, 0.975, 4.3027), (4, 0.975, 2.7764), (9, 0.995, 3.2498)]:
        assert student_t_quantile(q, df) == pytest.approx(table, abs=1e-4)
    assert seed_widening(5) == pytest.approx(np.sqrt(5 / 4) * 2.7764 / 1.95996, abs=1e-3)
    assert seed_widening(1000) == pytest.approx(1.0, abs=2e-3)
    with pytest.raises(ValueError, match="df >= 1"):
        student_t_quantile(0.975, 0)


def test_curve_variance_measures_jitter_not_level_or_steady_trend():
    epochs = np.arange(200.0)
    assert curve_variance(10 - 0.05 * epochs) == pytest.approx(0.0, abs=1e-12)
    noise = np.random.default_rng(1).normal(0, 0.5, 200)
    jittery = curve_variance(10 - 0.05 * epochs + noise)
    assert jittery == pytest.approx(0.5 * np.sqrt(2), rel=0.15)
    assert curve_variance(20 - 0.05 * epochs + noise) == pytest.approx(jittery)  # level: no matter
    assert curve_variance(10 - 0.05 * epochs + noise / 5) < jittery
    with pytest.raises(ValueError, match="at least 3 epochs"):
        curve_variance([1.0, 2.0])
    with pytest.raises(ValueError, match="1 non-finite"):
        curve_variance([1.0, np.inf, 2.0])
