import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT

from workflow_scripts.labeltable import read_labels, write_csv
from workflow_scripts.splits import SplitError, allocate, make_splits, strata
from workflow_scripts.subsets import nested_order, quota_sequence, subset

BINS = [0, 10, 20, 30, 40, 60, 117]


@pytest.fixture(scope="module")
def labels():
    rng = np.random.default_rng(0)
    n = 400
    return pd.DataFrame(
        {
            "path": [f"{i:04d}.jpg" for i in rng.permutation(n)],  # not in path order
            "age": np.clip(rng.gamma(3, 11, n).astype(int) + 1, 1, 116),
            "gender": (rng.random(n) < 0.3).astype(int),
            "race": rng.integers(0, 5, n),
            "datetime": ["20170101000000000"] * n,
        }
    )


@pytest.fixture(scope="module")
def parts(labels):
    # test_size leaves 100 images in no split: the sizes beyond the training split draw from them
    return make_splits(labels, 200, 0.25, 100, BINS, seed=1)


def _extra(labels, parts):
    used = pd.concat([parts[s]["path"] for s in ("train", "val", "test")])
    return labels[~labels["path"].isin(used)]


def _subset(labels, parts, size, seed=1):
    return subset(labels, parts["train"], parts["val"], parts["test"], size, BINS, seed)


def _max_deviation(keys: pd.Series) -> float:
    """Largest |count of a stratum in a prefix - prefix length * its share| over all prefixes."""
    onehot = pd.get_dummies(keys).to_numpy(dtype=int)
    n = np.arange(1, len(keys) + 1)[:, None]
    return float(np.abs(onehot.cumsum(axis=0) - n * onehot.mean(axis=0)).max())


def test_the_strata_are_unequal(labels, parts):
    counts = strata(parts["train"], BINS).value_counts()
    assert len(counts) >= 8 and counts.max() >= 4 * counts.min()
    assert len(_extra(labels, parts)) == 100


def test_every_prefix_of_the_training_split_is_stratified(labels, parts):
    order = nested_order(parts["train"], _extra(labels, parts), BINS, seed=1)
    n = len(parts["train"])
    assert _max_deviation(strata(order.iloc[:n], BINS)) <= 1 + 1e-9
    # the images beyond it follow in the same way
    assert _max_deviation(strata(order.iloc[n:], BINS)) <= 1 + 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_quota_sequence_keeps_every_stratum_within_one_of_its_share(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 300, rng.integers(8, 21))
    counts[0] = 1500  # one large stratum and many small ones: where (rank + 0.5) / count misses
    seq = quota_sequence({f"{i:02d}:0": int(c) for i, c in enumerate(counts)})
    assert len(seq) == counts.sum()
    assert _max_deviation(pd.Series(seq)) <= 1 + 1e-9


def test_largest_remainder_quotas_do_not_nest():
    # the Alabama paradox: one more image takes one away from stratum a, so per-size quotas cannot nest
    counts = pd.Series([1, 3, 3], index=["a", "b", "c"])
    assert allocate(counts, 3).tolist() == [1, 1, 1]
    assert allocate(counts, 4).tolist() == [0, 2, 2]


def test_subsets_nest(labels, parts):
    sizes = [1, 7, 60, 149, 150, 151, 220, 250]
    sets = [set(_subset(labels, parts, n)["path"]) for n in sizes]
    assert [len(s) for s in sets] == sizes
    assert all(small < large for small, large in zip(sets[:-1], sets[1:], strict=True))
    held_out = set(parts["val"]["path"]) | set(parts["test"]["path"])
    assert not sets[-1] & held_out


def test_the_training_split_size_gives_the_training_split(labels, parts):
    got = _subset(labels, parts, len(parts["train"]))
    pd.testing.assert_frame_equal(got, parts["train"])
    beyond = _subset(labels, parts, 250)
    assert set(parts["train"]["path"]) < set(beyond["path"])
    assert list(beyond.columns) == list(parts["train"].columns)
    assert beyond["path"].is_monotonic_increasing


def test_deterministic_seeded_and_independent_of_row_order(labels, parts):
    extra = _extra(labels, parts)
    a = nested_order(parts["train"], extra, BINS, seed=1)
    pd.testing.assert_frame_equal(a, nested_order(parts["train"], extra, BINS, seed=1))
    shuffled = [df.sample(frac=1, random_state=5) for df in (parts["train"], extra)]
    pd.testing.assert_frame_equal(a, nested_order(*shuffled, BINS, seed=1))
    b = nested_order(parts["train"], extra, BINS, seed=2)
    assert not a["path"].equals(b["path"])
    assert set(a["path"]) == set(b["path"])
    assert not _subset(labels, parts, 60)["path"].equals(_subset(labels, parts, 60, seed=2)["path"])


def test_too_large_a_size_names_the_key_and_what_is_available(labels, parts):
    with pytest.raises(SplitError, match="claims.data_sizes") as err:
        _subset(labels, parts, 251)
    assert "250" in str(err.value) and "split.test_size" in str(err.value)
    assert len(_subset(labels, parts, 250)) == 250


def test_a_size_below_one_names_the_key(labels, parts):
    with pytest.raises(SplitError, match="claims.data_sizes"):
        _subset(labels, parts, 0)


def test_a_held_out_image_missing_from_the_labels_names_it(labels, parts):
    val = pd.concat([parts["val"], parts["val"].iloc[:1].assign(path="zz.jpg")])
    with pytest.raises(SplitError, match=r"val\.csv: 1 images are not in the labels \(first: zz\.jpg\)"):
        subset(labels, parts["train"], val, parts["test"], 10, BINS, 1, names=("t.csv", "val.csv", "x.csv"))


@pytest.fixture
def csvs(tmp_path, labels, parts):
    write_csv(labels, tmp_path / "labels.csv")
    for name in ("train", "val", "test"):
        write_csv(parts[name], tmp_path / f"{name}.csv")
    return tmp_path


def _cli(d, size):
    args = ["--labels", "labels.csv", "--train-split", "train.csv", "--val-split", "val.csv",
            "--test-split", "test.csv", "--size", str(size), "--age-bins", ",".join(map(str, BINS)),
            "--seed", "1", "--out", "out/sub.csv", "--log", "logs/sub.log"]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "workflow_scripts.subsets", *args],
        cwd=d, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.cli
def test_the_cli_writes_the_subset(csvs):
    proc = _cli(csvs, 220)
    assert proc.returncode == 0, proc.stderr
    want = subset(*(read_labels(csvs / f"{n}.csv") for n in ("labels", "train", "val", "test")), 220, BINS, 1)
    pd.testing.assert_frame_equal(read_labels(csvs / "out/sub.csv"), want)
    assert "220 images, 150 from the training split, 70 from beyond it" in (csvs / "logs/sub.log").read_text()


@pytest.mark.cli
def test_the_cli_says_a_bad_size_in_one_line(csvs):
    proc = _cli(csvs, 1000)
    assert proc.returncode != 0
    assert proc.stderr.startswith("ERROR: `claims.data_sizes` asks for 1000")
    assert "Traceback" not in proc.stderr
    assert not (csvs / "out").exists() or not list((csvs / "out").iterdir())
