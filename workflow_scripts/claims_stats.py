"""The study's claims, tested: a variant (one of the study's choices undone) against the baseline (the
study's choice), both trained with the same K seeds and scored on the same test images.

Sign convention, everywhere: an effect is VARIANT - BASELINE in the metric's own units (years of MAE,
points of accuracy, epochs). Whether a positive effect is good news for the study depends on the metric:
for a lower-is-better metric (MAE) the study's side is effect > 0 (the variant is worse), for a
higher-is-better one (accuracy) it is effect < 0. Results carry `higher_is_better` and `variant_worse`
so nobody has to redo that reasoning.

With few seeds a plain percentile bootstrap over seeds is too narrow (the bootstrap's spread is the
sample's, shrunk by sqrt((K-1)/K), and its quantiles are normal ones where Student's t with K-1 degrees
of freedom applies): at K=5 and seed noise dominating it covers about 86%, at K=3 about 75%. So the
seed level of every resample is widened by `seed_widening(K)`, which makes it exact for normal seed
noise; the tests show both the shortfall and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

import numpy as np

from workflow_scripts.uncertainty import CONFIDENCE, N_BOOT, interval, resample_counts

SUPPORTED = "supported"  # the whole interval on the study's side of zero: the variant is worse
CONTRADICTED = "contradicted"  # the whole interval on the other side: the variant is better
NOT_SHOWN = "not shown"  # the interval holds zero
ONE_SEED = "not shown (one seed)"  # one run per arm says nothing about training-run noise


def student_t_quantile(q: float, df: int) -> float:
    """Quantile q (0.5 < q < 1) of Student's t with df degrees of freedom, numpy only (to ~1e-9).

    With t = sqrt(df) tan(theta), P(0 < T < t) is proportional to the integral of cos(theta)^(df-1) from 0
    to theta: one cumulative sum on a fine grid, inverted by interpolation."""
    if not 0.5 < q < 1 or df < 1:
        raise ValueError(f"student_t_quantile needs 0.5 < q < 1 and df >= 1, got q={q}, df={df}")
    theta = np.linspace(0.0, np.pi / 2, 200_001)
    dens = np.cos(theta) ** (df - 1)
    cum = np.concatenate([[0.0], np.cumsum(dens[1:] + dens[:-1])])
    return float(np.sqrt(df) * np.tan(np.interp(2 * q - 1, cum / cum[-1], theta)))


def seed_widening(k: int, confidence: float = CONFIDENCE) -> float:
    """Factor on the seed level of a bootstrap over k seeds: sqrt(k/(k-1)) undoes the bootstrap's shrunk
    variance, t_{k-1}/z turns normal quantiles into Student's. 1.58 at k=5, 2.69 at k=3, 9.2 at k=2."""
    q = 1 - (1 - confidence) / 2
    return float(np.sqrt(k / (k - 1)) * student_t_quantile(q, k - 1) / NormalDist().inv_cdf(q))


def _paired(baseline: Any, variant: Any, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    b, v = np.asarray(baseline, dtype=np.float64), np.asarray(variant, dtype=np.float64)
    what = "(seeds, images)" if ndim == 2 else "(seeds,)"
    for name, x in (("baseline", b), ("variant", v)):
        if x.ndim != ndim or x.size == 0:
            raise ValueError(f"{name} must be a non-empty array of shape {what}, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} has {int(np.sum(~np.isfinite(x)))} non-finite values")
    if b.shape[0] != v.shape[0]:
        raise ValueError(f"baseline has {b.shape[0]} seeds but variant has {v.shape[0]} (paired by seed)")
    if ndim == 2 and b.shape[1] != v.shape[1]:
        raise ValueError(
            f"baseline has {b.shape[1]} images per seed but variant has {v.shape[1]} "
            "(both must score the same test images in the same order)"
        )
    return b, v


def _summary(
    effect: float, samples: np.ndarray | None, k: int, higher_is_better: bool, confidence: float
) -> dict[str, Any]:
    better = (lambda s: s > 0) if higher_is_better else (lambda s: s < 0)
    lo, hi = (None, None) if samples is None else interval(samples, confidence)
    return {
        "effect": effect,
        "lo": lo,
        "hi": hi,
        "confidence": confidence,
        "higher_is_better": higher_is_better,
        "variant_worse": bool(effect != 0 and not better(effect)),
        "p_better": None if samples is None else float(np.mean(better(samples))),
        "k_seeds": k,
    }


def paired_effect(
    baseline: Any, variant: Any, *, higher_is_better: bool, n_boot: int = N_BOOT, seed: int = 0,
    confidence: float = CONFIDENCE, small_k_correction: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Effect of the variant on a per-image metric, with a two-level paired bootstrap interval.

    `baseline`, `variant`: (K seeds, n images) per-image values (absolute error, 1/0 correct), row k of
    both from the same seed, columns the same images. effect = mean over seeds of (variant's mean over
    images - baseline's). A resample draws K seeds and n images with replacement, the same image draw for
    both arms and every seed (pairing), and takes the mean over drawn seeds of the difference of means
    over drawn images: training-run and test-sample noise together. Each resample is est + w * seed part
    + image part (w = `seed_widening(K)`, 1 without `small_k_correction`). Slightly conservative: per-run
    image noise shows in both levels. Returns effect, lo, hi (percentile interval), confidence,
    higher_is_better, variant_worse (the point effect is on the study's side), p_better (share of
    resamples in which the variant beats the baseline), k_seeds, n_images; lo, hi, p_better are None
    with one seed. Count vectors and one matrix product per block: 2,000 x 5 seeds x 5,000 images 0.5 s.
    """
    b, v = _paired(baseline, variant, 2)
    k, n = b.shape
    diff = v - b  # same draw for both arms: the difference of means is the mean of differences
    effect = float(diff.mean())
    samples = None
    if k >= 2:
        w = seed_widening(k, confidence) if small_k_correction else 1.0
        img_seed, seed_seed = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(2))
        blocks = []
        draws = zip(resample_counts(n, n_boot, img_seed), resample_counts(k, n_boot, seed_seed), strict=True)
        for imgs, seeds in draws:
            per_seed = imgs @ diff.T / n  # (block, K): each seed's difference over the drawn images
            over_images = per_seed.mean(axis=1)
            over_seeds = np.sum(seeds / k * per_seed, axis=1)
            blocks.append(over_images + w * (over_seeds - over_images))
        samples = np.concatenate(blocks)
    return _summary(effect, samples, k, higher_is_better, confidence) | {"n_images": n}


def paired_effect_scalar(
    baseline_values: Any, variant_values: Any, *, higher_is_better: bool, n_boot: int = N_BOOT,
    seed: int = 0, confidence: float = CONFIDENCE, small_k_correction: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Effect of the variant on a one-number-per-run metric (epoch of the best checkpoint, curve variance,
    training time, parameters): values (K,) per arm, index k the same seed in both. Bootstrap over seeds,
    paired, widened as in `paired_effect`. Same keys as `paired_effect` less n_images."""
    b, v = _paired(baseline_values, variant_values, 1)
    k = len(b)
    diff = v - b
    effect = float(diff.mean())
    samples = None
    if k >= 2:
        w = seed_widening(k, confidence) if small_k_correction else 1.0
        means = np.concatenate([c / k @ diff for c in resample_counts(k, n_boot, seed)])
        samples = effect + w * (means - effect)
    return _summary(effect, samples, k, higher_is_better, confidence)


def verdict(result: Mapping[str, Any]) -> str:
    """What an effect says of the study's claim that its choice is better (the variant worse).

    `result` is from `paired_effect`/`paired_effect_scalar`; the metric's direction is the one it was
    computed with (its `higher_is_better`), so the interval and p_better cannot be read two ways.
    SUPPORTED: the whole interval on the study's side of zero (effect > 0 for lower-is-better, < 0 for
    higher-is-better); CONTRADICTED: the whole interval on the other side; NOT_SHOWN: it holds zero;
    ONE_SEED ("not shown (one seed)"): fewer than two seeds, never a verdict whatever the numbers."""
    if result["k_seeds"] < 2 or result["lo"] is None:
        return ONE_SEED
    side = -1.0 if result["higher_is_better"] else 1.0  # sign of a variant-worse effect
    lo, hi = sorted((side * result["lo"], side * result["hi"]))
    if lo > 0:
        return SUPPORTED
    if hi < 0:
        return CONTRADICTED
    return NOT_SHOWN


def curve_variance(values_per_epoch: Any) -> float:
    """Epoch-to-epoch variation of a validation curve: the standard deviation (ddof=1) of its first
    differences, in the metric's units per epoch.

    First differences remove the level; taking their spread rather than their mean square also removes a
    steady trend, so a curve is not marked jumpy for improving fast (the mean square of differences is
    their variance plus the squared mean slope). White noise of sd s around a straight line gives about
    s * sqrt(2). Pass the curve from the epoch to be judged: the first epochs' fall counts otherwise."""
    x = np.asarray(values_per_epoch, dtype=np.float64)
    if x.ndim != 1 or len(x) < 3:
        raise ValueError(f"curve_variance needs a 1-D curve of at least 3 epochs, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"curve_variance: the curve has {int(np.sum(~np.isfinite(x)))} non-finite values")
    return float(np.std(np.diff(x), ddof=1))
