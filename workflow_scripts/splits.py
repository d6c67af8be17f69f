"""Deterministic train/val/test splits stratified by age bin x gender.

The same labels and seed always give the same three CSVs, byte for byte: rows are ordered by path
before any random draw, and every draw comes from one `numpy.random.Generator` seeded by `seed`.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd

from .fileio import setup_logging
from .labeltable import read_labels, write_csv
from .step import run

log = logging.getLogger("utkface.splits")


class SplitError(ValueError):
    """The requested split sizes cannot be met by the labelled data."""


def strata(df: pd.DataFrame, age_bins: list[int]) -> pd.Series:
    """Stratum key 'bin:gender' for each row; ages outside the bin edges are an error."""
    edges = sorted(age_bins)
    bins = pd.cut(df["age"], bins=edges, right=False, labels=False)
    if bins.isna().any():
        bad = df.loc[bins.isna(), "age"].unique()
        raise SplitError(f"ages {sorted(map(int, bad))[:5]} fall outside `split.age_bins` {edges}")
    return bins.astype(int).astype(str) + ":" + df["gender"].astype(str)


def allocate(counts: pd.Series, k: int) -> pd.Series:
    """Split `k` across strata in proportion to `counts` (largest remainder, ties by stratum key)."""
    total = int(counts.sum())
    if not 0 <= k <= total:
        raise SplitError(f"cannot draw {k} of {total}")
    exact = counts.astype(float) * k / total
    base = np.floor(exact).astype(int)
    rest = k - int(base.sum())
    order = sorted(counts.index, key=lambda s: (-(exact[s] - base[s]), s))
    for s in order[:rest]:
        base[s] += 1
    return base  # never above counts: a quota's floor + 1 exceeds it only if the quota is whole


def _take(df: pd.DataFrame, keys: pd.Series, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified: the first rows (in the already shuffled order) of each stratum, and the rest."""
    alloc = allocate(keys.value_counts().sort_index(), k)
    rank = df.groupby(keys).cumcount()
    chosen = rank < keys.map(alloc)
    return df[chosen], df[~chosen]


def make_splits(
    labels: pd.DataFrame,
    train_val_size: int,
    val_fraction: float,
    test_size: int | None,
    age_bins: list[int],
    seed: int,
) -> dict[str, pd.DataFrame]:
    n = len(labels)
    if train_val_size > n:
        raise SplitError(
            f"`split.train_val_size` is {train_val_size} but only {n} labelled images are available"
        )
    n_val = round(train_val_size * val_fraction)
    if not 0 < n_val < train_val_size:
        raise SplitError(f"`split.val_fraction` {val_fraction} leaves an empty train or val split")
    if test_size is not None and test_size > n - train_val_size:
        raise SplitError(f"`split.test_size` is {test_size} but only {n - train_val_size} images remain")
    rng = np.random.default_rng(seed)
    df = labels.sort_values("path", ignore_index=True)
    df = df.iloc[rng.permutation(n)].reset_index(drop=True)
    keys = strata(df, age_bins)
    train_val, rest = _take(df, keys, train_val_size)
    val, train = _take(train_val, keys[train_val.index], n_val)
    if test_size is None:
        test = rest
    else:
        test, _ = _take(rest, keys[rest.index], test_size)
    if test.empty:
        raise SplitError("no image is left for the test split; lower `split.train_val_size`")
    return {
        name: part.sort_values("path", ignore_index=True)
        for name, part in (("train", train), ("val", val), ("test", test))
    }


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--labels", required=True)
    p.add_argument("--out-train", required=True)
    p.add_argument("--out-val", required=True)
    p.add_argument("--out-test", required=True)
    p.add_argument("--train-val-size", type=int, required=True)
    p.add_argument(
        "--train-val-fraction",
        type=lambda s: None if s in ("", "None", "null") else float(s),
        help="share of all labelled images for training plus validation; replaces --train-val-size",
    )
    p.add_argument("--val-fraction", type=float, required=True)
    p.add_argument("--test-size", type=lambda s: None if s in ("", "None", "null") else int(s))
    p.add_argument("--age-bins", type=lambda s: [int(x) for x in s.split(",")], required=True)
    p.add_argument("--seed", type=int, required=True)
    a = p.parse_args(argv)
    setup_logging()
    labels = read_labels(a.labels)
    size = a.train_val_size if a.train_val_fraction is None else round(a.train_val_fraction * len(labels))
    try:
        parts = make_splits(labels, size, a.val_fraction, a.test_size, a.age_bins, a.seed)
    except SplitError as err:
        raise SystemExit(f"ERROR: {err}") from None
    for name, out in (("train", a.out_train), ("val", a.out_val), ("test", a.out_test)):
        write_csv(parts[name], out)
        log.info(
            "%s: %d images, %.1f%% female, mean age %.1f",
            name,
            len(parts[name]),
            100 * parts[name]["gender"].mean(),
            parts[name]["age"].mean(),
        )


if __name__ == "__main__":
    run(main)
