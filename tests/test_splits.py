import numpy as np
import pandas as pd
import pytest

from workflow_scripts.splits import SplitError, allocate, main, make_splits, strata

BINS = [0, 3, 10, 20, 30, 40, 50, 60, 70, 80, 117]


@pytest.fixture(scope="module")
def labels():
    rng = np.random.default_rng(0)
    n = 3000
    return pd.DataFrame(
        {
            "path": [f"{i:05d}.jpg" for i in range(n)],
            "age": np.clip(rng.gamma(3, 11, n).astype(int) + 1, 1, 116),
            "gender": (rng.random(n) < 0.45).astype(int),
            "race": rng.integers(0, 5, n),
            "datetime": ["20170101000000000"] * n,
        }
    )


def test_sizes_disjoint_and_complete(labels):
    parts = make_splits(labels, 1000, 0.2, None, BINS, seed=1)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [800, 200, 2000]
    sets = [set(parts[s]["path"]) for s in ("train", "val", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert set.union(*sets) == set(labels["path"])


def test_stratified_by_age_bin_and_gender(labels):
    parts = make_splits(labels, 1000, 0.2, None, BINS, seed=1)
    whole = strata(labels, BINS).value_counts(normalize=True)
    for name in ("train", "val"):
        share = strata(parts[name], BINS).value_counts(normalize=True).reindex(whole.index, fill_value=0)
        # proportional allocation: each stratum's share is off by at most one image's worth
        assert (share - whole).abs().max() <= 1 / len(parts[name]) + 1e-9


def test_test_size_and_seed_sensitivity(labels):
    a = make_splits(labels, 1000, 0.2, 500, BINS, seed=1)
    b = make_splits(labels, 1000, 0.2, 500, BINS, seed=2)
    assert len(a["test"]) == 500
    assert not a["val"]["path"].equals(b["val"]["path"])


def test_same_seed_same_bytes(tmp_path, labels):
    labels.to_csv(tmp_path / "labels.csv", index=False)
    outs = []
    for run in ("a", "b"):
        args = [
            "--labels",
            str(tmp_path / "labels.csv"),
            "--train-val-size",
            "1000",
            "--val-fraction",
            "0.2",
            "--test-size=",
            "--age-bins",
            ",".join(map(str, BINS)),
            "--seed",
            "5",
        ]
        for s in ("train", "val", "test"):
            args += [f"--out-{s}", str(tmp_path / f"{run}_{s}.csv")]
        # shuffled input rows must not change the result
        if run == "b":
            labels.sample(frac=1, random_state=3).to_csv(tmp_path / "labels.csv", index=False)
        main(args)
        outs.append([(tmp_path / f"{run}_{s}.csv").read_bytes() for s in ("train", "val", "test")])
    assert outs[0] == outs[1]


def test_allocate_largest_remainder():
    counts = pd.Series({"a": 5, "b": 3, "c": 2})
    # quotas 2.5, 1.5, 1.0: the floors take 4, the one left goes to the largest remainder, a tie of a and b
    # broken by the stratum key
    assert allocate(counts, 5).to_dict() == {"a": 3, "b": 1, "c": 1}
    assert allocate(pd.Series({"c": 1, "b": 1, "a": 1}), 2).to_dict() == {"c": 0, "b": 1, "a": 1}
    # 3.5, 2.1, 1.4: the one left goes to a (.5), not c (.4)
    assert allocate(counts, 7).to_dict() == {"a": 4, "b": 2, "c": 1}
    assert allocate(counts, 10).to_dict() == counts.to_dict()
    assert allocate(counts, 0).sum() == 0


@pytest.mark.parametrize(
    "kwargs,key",
    [
        ({"train_val_size": 5000}, "split.train_val_size"),
        ({"test_size": 2500}, "split.test_size"),
        ({"val_fraction": 0.0001}, "split.val_fraction"),
        ({"age_bins": [10, 20]}, "split.age_bins"),
    ],
)
def test_errors_name_the_config_key(labels, kwargs, key):
    args = {"train_val_size": 1000, "val_fraction": 0.2, "test_size": None, "age_bins": BINS, "seed": 0}
    with pytest.raises(SplitError, match=key.replace(".", r"\.")):
        make_splits(labels, **{**args, **kwargs})


def test_a_set_test_size_draws_a_disjoint_stratified_test_split(labels):
    parts = make_splits(labels, 1000, 0.2, 600, BINS, seed=3)
    sets = {k: set(v["path"]) for k, v in parts.items()}
    assert len(sets["test"]) == 600
    assert not (sets["test"] & sets["train"] or sets["test"] & sets["val"] or sets["train"] & sets["val"])
    whole = strata(labels, BINS).value_counts(normalize=True)
    share = strata(parts["test"], BINS).value_counts(normalize=True).reindex(whole.index, fill_value=0)
    assert (share - whole).abs().max() <= 1 / 600 + 1e-9


def test_allocate_is_proportional_with_largest_remainders_and_ties_by_key():
    # quotas 2.5, 1.5, 1.0: floors 2, 1, 1; the one left goes to the largest remainder, a tie of a and b
    # broken by the key
    assert allocate(pd.Series({"a": 5, "b": 3, "c": 2}), 5).to_dict() == {"a": 3, "b": 1, "c": 1}
    assert allocate(pd.Series({"b": 5, "a": 3, "c": 2}), 5).to_dict() == {"b": 2, "a": 2, "c": 1}
    # quotas 1.4 and 3.6: the remainder 0.6 wins over 0.4
    assert allocate(pd.Series({"a": 7, "b": 18}), 5).to_dict() == {"a": 1, "b": 4}
    assert allocate(pd.Series({"a": 5, "b": 3, "c": 2}), 10).to_dict() == {"a": 5, "b": 3, "c": 2}
    assert allocate(pd.Series({"a": 5, "b": 3}), 0).to_dict() == {"a": 0, "b": 0}


def test_strata_bins_are_left_closed_and_name_bin_and_gender():
    df = pd.DataFrame({"age": [0, 2, 3, 9, 10, 116], "gender": [0, 1, 0, 1, 0, 1]})
    # an age on an edge belongs to the bin it opens: 3 -> bin 1, 10 -> bin 2
    assert strata(df, [0, 3, 10, 117]).tolist() == ["0:0", "0:1", "1:0", "1:1", "2:0", "2:1"]
    with pytest.raises(SplitError, match="outside `split.age_bins`"):
        strata(pd.DataFrame({"age": [117], "gender": [0]}), [0, 3, 10, 117])


def _small(n=20):
    return pd.DataFrame(
        {
            "path": [f"{i:03d}.jpg" for i in range(n)][::-1],  # not in path order: the splits sort them
            "age": [5 + 3 * i for i in range(n)],
            "gender": [i % 2 for i in range(n)],
            "race": [i % 5 for i in range(n)],
            "datetime": ["0017"] * n,
        }
    )


def test_each_split_is_rows_of_the_labels_sorted_by_path_with_a_fresh_index():
    labels = _small()
    parts = make_splits(labels, 10, 0.2, None, BINS, seed=4)
    by_path = labels.set_index("path")
    for part in parts.values():
        assert list(part.columns) == list(labels.columns) and list(part.index) == list(range(len(part)))
        assert part["path"].is_monotonic_increasing
        pd.testing.assert_frame_equal(part.set_index("path"), by_path.loc[part["path"]])
    assert allocate(pd.Series({"a": 5, "b": 3}), 4).dtype == np.int64


@pytest.mark.parametrize(
    "kwargs,message",
    [
        # all images for train+val: no test split left, said as such (not as a size above the labels)
        ({"train_val_size": 20}, "no image is left for the test split; lower `split.train_val_size`"),
        ({"train_val_size": 21}, "`split.train_val_size` is 21 but only 20 labelled images are available"),
        ({"val_fraction": 1.0}, "`split.val_fraction` 1.0 leaves an empty train or val split"),
        ({"val_fraction": 0.01}, "`split.val_fraction` 0.01 leaves an empty train or val split"),
        ({"test_size": 11}, "`split.test_size` is 11 but only 10 images remain"),
    ],
)
def test_split_errors_word_for_word(kwargs, message):
    args = {"train_val_size": 10, "val_fraction": 0.2, "test_size": None, "age_bins": BINS, "seed": 0}
    with pytest.raises(SplitError) as err:
        make_splits(_small(), **{**args, **kwargs})
    assert str(err.value) == message


def test_split_sizes_at_their_limits():
    labels = _small()
    # one validation image, and a test split taking every image that is left
    parts = make_splits(labels, 10, 0.1, 10, BINS, seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [9, 1, 10]
    with pytest.raises(SplitError) as err:
        allocate(pd.Series({"a": 2}), 3)
    assert str(err.value) == "cannot draw 3 of 2"


def test_out_of_range_ages_are_listed_five_at_most():
    df = pd.DataFrame({"age": [200, 201, 202, 203, 204, 205, 5], "gender": [0] * 7})
    with pytest.raises(SplitError) as err:
        strata(df, [0, 10, 117])
    assert str(err.value) == "ages [200, 201, 202, 203, 204] fall outside `split.age_bins` [0, 10, 117]"


@pytest.mark.parametrize("none", ["", "None", "null"])
def test_main_reads_fractions_and_empty_values_and_logs_each_split(tmp_path, capsys, none):
    _small().to_csv(tmp_path / "labels.csv", index=False)
    out = {k: tmp_path / f"{k}.csv" for k in ("train", "val", "test")}
    args = ["--labels", str(tmp_path / "labels.csv"), "--out-train", str(out["train"]), "--out-val",
            str(out["val"]), "--out-test", str(out["test"]), "--train-val-size", "3", "--val-fraction", "0.2",
            "--age-bins", "0,10,117", "--seed", "2"]  # fmt: skip
    main([*args, f"--train-val-fraction={none}", f"--test-size={none}"])
    assert [len(pd.read_csv(out[k])) for k in ("train", "val", "test")] == [2, 1, 17]
    main([*args, "--train-val-fraction", "0.5", "--test-size", "4"])
    sizes = [len(pd.read_csv(out[k])) for k in ("train", "val", "test")]
    assert sizes == [8, 2, 4]
    log = [line.split("utkface.splits: ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    female = {k: 100 * pd.read_csv(out[k])["gender"].mean() for k in out}
    age = {k: pd.read_csv(out[k])["age"].mean() for k in out}
    assert log[3:] == [
        f"{k}: {n} images, {female[k]:.1f}% female, mean age {age[k]:.1f}"
        for k, n in zip(out, sizes, strict=True)
    ]
    with pytest.raises(SystemExit) as err:
        main([*args, "--train-val-fraction", "2"])
    assert str(err.value) == "ERROR: `split.train_val_size` is 40 but only 20 labelled images are available"
