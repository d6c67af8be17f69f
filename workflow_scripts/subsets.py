"""Nested stratified training subsets for the data-size curve (the validation and test splits stay fixed).

A subset of n images is the first n of one order: the training split, then the labelled images no split
holds. Any prefix of the training split keeps every age bin x gender stratum within one image of its
share, so the subsets nest (largest-remainder quotas per size do not: the Alabama paradox).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pandas as pd

from .fileio import setup_logging
from .labeltable import read_labels, write_csv
from .preprocess import split_rows
from .splits import SplitError, strata
from .step import run

log = logging.getLogger("utkface.subsets")


def quota_sequence(counts: dict[str, int]) -> list[str]:
    """The stratum of each position, so that after n positions stratum s holds within one of
    n * counts[s] / total: earliest deadline first over each stratum's next image (Tijdeman's chairman
    assignment). A simple (rank + 0.5) / count order (Webster's method) can miss that bound."""
    total = sum(counts.values())
    taken = dict.fromkeys(counts, 0)
    seq = []
    for n in range(1, total + 1):
        # released: taking one more keeps s at most one above its quota n * c / total
        ready = [s for s, c in counts.items() if taken[s] < c and taken[s] * total <= n * c]
        # deadline: the next image of s must come before its quota runs one ahead
        s = min(ready, key=lambda s: (Fraction(taken[s] + 1, counts[s]), s))
        taken[s] += 1
        seq.append(s)
    return seq


def _stratified(df: pd.DataFrame, age_bins: list[int], rng: np.random.Generator) -> pd.DataFrame:
    df = df.sort_values("path", ignore_index=True)
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    keys = strata(df, age_bins).to_numpy()
    seq = np.array(quota_sequence(pd.Series(keys).value_counts().sort_index().to_dict()))
    place = np.empty(len(df), dtype=int)
    for s in np.unique(keys):  # the j-th image of s (shuffled order) takes the j-th place of s
        place[keys == s] = np.flatnonzero(seq == s)
    return df.iloc[np.argsort(place)].reset_index(drop=True)


def nested_order(train: pd.DataFrame, extra: pd.DataFrame, age_bins: list[int], seed: int) -> pd.DataFrame:
    """`train`, then `extra`, each in a seeded stratified order whose every prefix is stratified."""
    rng = np.random.default_rng(seed)
    parts = [_stratified(part, age_bins, rng) for part in (train, extra)]
    return pd.concat(parts, ignore_index=True)


def subset(
    labels: pd.DataFrame,
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    size: int,
    age_bins: list[int],
    seed: int,
    names: Sequence[str] = ("training split", "validation split", "test split"),
) -> pd.DataFrame:
    """The first `size` images of `nested_order` (training split, then images in no split), by path."""
    for part, where in zip((train, val, test), names, strict=True):
        try:
            split_rows(labels, part, where)
        except ValueError as err:
            raise SplitError(str(err)) from None
    if size < 1:
        raise SplitError(f"`claims.data_sizes`: a training-set size must be at least 1, not {size}")
    used = pd.concat([train["path"], val["path"], test["path"]])
    extra = labels[~labels["path"].isin(used)][list(train.columns)]
    available = len(train) + len(extra)
    if size > available:
        raise SplitError(
            f"`claims.data_sizes` asks for {size} training images but only {available} are outside the "
            f"validation and test splits ({len(train)} in training, {len(extra)} in no split): lower it, "
            "or set `split.test_size` so that fewer images go to test"
        )
    chosen = nested_order(train, extra, age_bins, seed).iloc[:size]
    return chosen.sort_values("path", ignore_index=True)


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    p = argparse.ArgumentParser(description=__doc__)
    for flag in ("--labels", "--train-split", "--val-split", "--test-split", "--out"):
        p.add_argument(flag, required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--age-bins", type=lambda s: [int(x) for x in s.split(",")], required=True)
    p.add_argument("--seed", type=int, required=True)
    a = p.parse_args(argv)
    setup_logging()
    files = (a.train_split, a.val_split, a.test_split)
    labels, train, val, test = (read_labels(f) for f in (a.labels, *files))
    try:
        out = subset(labels, train, val, test, a.size, a.age_bins, a.seed, names=files)
    except SplitError as err:
        raise SystemExit(f"ERROR: {err}") from None
    write_csv(out, a.out)
    n_train = int(out["path"].isin(train["path"]).sum())
    beyond = len(out) - n_train
    log.info("%s: %d images, %d from the training split, %d from beyond it", a.out, len(out), n_train, beyond)


if __name__ == "__main__":
    run(main)
