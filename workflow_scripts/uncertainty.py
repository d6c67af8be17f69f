"""How sure a number is: seeded percentile-bootstrap intervals, paired model differences, calibration.

Every metric reported is a mean of per-image values (absolute error, squared error, correct or not), so a
bootstrap resample is a vector of counts (how often each image was drawn) and every metric of every group
is one matrix product: 2,000 resamples of 20,000 images cost seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

CONFIDENCE = 0.95
N_BOOT = 2000
CHUNK = 250  # resamples drawn at once: CHUNK x n counts in memory


def resample_counts(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap count vectors, shape (block, n): row r counts how often each of the n items was
    drawn (with replacement) in resample r. The same seed gives the same resamples, for pairing."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, CHUNK):
        b = min(CHUNK, n_boot - start)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def bootstrap_means(values: np.ndarray, weights: np.ndarray | None, n_boot: int, seed: int) -> np.ndarray:
    """Resampled weighted means: `values` (n, k), `weights` (n, k) 0/1 group masks or None. Returns
    (n_boot, k); a resample in which a group drew no item gives NaN for it."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, float).reshape(values.shape)
    out = []
    for counts in resample_counts(len(values), n_boot, seed):
        num, den = counts @ (values * weights), counts @ weights
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(num / den)
    return np.concatenate(out)


def interval(samples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of bootstrap samples (NaNs, from resamples that missed a group, left out)."""
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.nanpercentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def metric_intervals(
    pred: Any, groups: dict[str, Any], n_boot: int = N_BOOT, seed: int = 0, confidence: float = CONFIDENCE
) -> dict[str, Any]:
    """Intervals of age MAE, RMSE and gender accuracy, overall and per group.

    `pred` has columns abs_err, sq_err, correct (one row per image); `groups` maps a grouping name
    ('by_age_bin', ...) to a Series of group labels. Returns {"age_mae": [lo, hi], ..., "by_race": {"White":
    {"age_mae": [lo, hi], ...}}}."""
    cols = ["abs_err", "sq_err", "correct"]
    names = ["age_mae", "age_rmse", "gender_accuracy"]
    masks, keys = [np.ones((len(pred), 3))], [(None, None)]
    for grouping, labels in groups.items():
        for g in labels.dropna().unique():
            masks.append(np.repeat((labels == g).to_numpy(float)[:, None], 3, axis=1))
            keys.append((grouping, str(g)))
    # the same three per-image values under every group's mask
    values = np.tile(pred[cols].to_numpy(float), len(keys))
    samples = bootstrap_means(values, np.hstack(masks), n_boot, seed)
    out: dict[str, Any] = {}
    for j, (grouping, g) in enumerate(keys):
        block = samples[:, 3 * j : 3 * j + 3].copy()
        block[:, 1] = np.sqrt(block[:, 1])  # RMSE from the resampled mean squared error
        entry = {name: list(interval(block[:, i], confidence)) for i, name in enumerate(names)}
        if grouping is None:
            out.update(entry)
        else:
            out.setdefault(grouping, {})[g] = entry
    return out


def paired_difference(
    a: np.ndarray, b: np.ndarray, n_boot: int = N_BOOT, seed: int = 0, confidence: float = CONFIDENCE
) -> dict[str, float]:
    """Mean of a - b over the same items, with the interval of the difference from resampling the items
    together (both models scored on the same resampled images)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    samples = bootstrap_means((a - b)[:, None], None, n_boot, seed)[:, 0]
    lo, hi = interval(samples, confidence)
    return {"difference": float(np.mean(a - b)), "low": lo, "high": hi}


def expected_calibration_error(prob: np.ndarray, truth: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """ECE of predicted probabilities of the positive class over equal-width bins, and the reliability
    diagram's points (per bin: mean predicted probability, observed frequency, count)."""
    prob, truth = np.asarray(prob, float), np.asarray(truth, float)
    which = np.clip((prob * bins).astype(int), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.bincount(which, weights=prob, minlength=bins) / count
        observed = np.bincount(which, weights=truth, minlength=bins) / count
    used = count > 0
    ece = float(np.sum(count[used] / len(prob) * np.abs(observed[used] - mean_prob[used])))
    return {
        "ece": ece,
        "bins": bins,
        "mean_prob": [None if not u else float(v) for u, v in zip(used, mean_prob, strict=True)],
        "observed": [None if not u else float(v) for u, v in zip(used, observed, strict=True)],
        "count": count.tolist(),
    }


def largest_gap(
    values: np.ndarray, labels: Any, n_boot: int = N_BOOT, seed: int = 0, confidence: float = CONFIDENCE,
    min_n: int = 10,
) -> dict[str, Any] | None:  # fmt: skip
    """The largest difference of a per-item metric's mean between two groups (groups of at least `min_n`
    items), with the bootstrap interval of that pair's difference. The pair is picked as the largest of
    all m pairs, so its interval is a simultaneous one (Bonferroni: confidence 1 - (1 - c) / m), valid
    whichever pair came out largest. None with fewer than two groups."""
    values = np.asarray(values, float)
    sizes = labels.value_counts()
    means = {g: values[(labels == g).to_numpy()].mean() for g in sizes.index if sizes[g] >= min_n}
    if len(means) < 2:
        return None
    pairs = len(means) * (len(means) - 1) // 2
    confidence = 1 - (1 - confidence) / pairs
    hi_g, lo_g = max(means, key=means.get), min(means, key=means.get)
    masks = np.stack([(labels == hi_g).to_numpy(float), (labels == lo_g).to_numpy(float)], axis=1)
    samples = bootstrap_means(np.repeat(values[:, None], 2, axis=1), masks, n_boot, seed)
    lo, hi = interval(samples[:, 0] - samples[:, 1], confidence)
    return {
        "high_group": str(hi_g),
        "low_group": str(lo_g),
        "gap": float(means[hi_g] - means[lo_g]),
        "low": lo,
        "high": hi,
        "confidence": confidence,
        "is_gap": bool(lo > 0),
    }
