"""A split's array: the split's rows of the labels step's pixel array, in the split's order."""

import logging

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.decode import load_image
from workflow_scripts.labels import Pixels, build_labels
from workflow_scripts.labeltable import write_csv
from workflow_scripts.preprocess import preprocess, split_rows


@pytest.fixture()
def labelled(synth_dir, tmp_path):
    labels, _ = build_labels(synth_dir, pixels=Pixels(tmp_path / "pixels.npy", 24))
    write_csv(labels, tmp_path / "labels.csv")
    return labels


def test_rows_follow_the_split_and_equal_a_direct_decode(labelled, synth_dir, tmp_path, caplog):
    split = labelled.iloc[[9, 2, 30, 0]]
    write_csv(split, tmp_path / "s.csv")
    with caplog.at_level(logging.INFO, logger="utkface.preprocess"):
        n = preprocess(
            tmp_path / "labels.csv", tmp_path / "pixels.npy", tmp_path / "s.csv", tmp_path / "o.npy"
        )
    arr = np.load(tmp_path / "o.npy", mmap_mode="r")
    assert n == 4 and isinstance(arr, np.memmap) and arr.shape == (4, 24, 24, 3)
    for i, rel in enumerate(split["path"]):
        assert np.array_equal(arr[i], load_image(synth_dir / rel, 24))
    assert [r.getMessage() for r in caplog.records] == [f"{tmp_path / 'o.npy'}: 4 images at 24x24"]
    assert sorted(p.name for p in tmp_path.glob("*.npy*")) == ["o.npy", "pixels.npy"]  # no scratch left


def test_split_rows_names_unlabelled_and_repeated_images():
    labels = pd.DataFrame({"path": ["a.jpg", "b.jpg", "c.jpg"]})
    assert split_rows(labels, pd.DataFrame({"path": ["c.jpg", "a.jpg"]}), "s.csv").tolist() == [2, 0]
    with pytest.raises(ValueError) as err:
        split_rows(labels, pd.DataFrame({"path": ["a.jpg", "x.jpg", "y.jpg"]}), "s.csv")
    assert str(err.value) == (
        "s.csv: 2 images are not in the labels (first: x.jpg): the split was made from other labels; "
        "rerun the splits"
    )
    with pytest.raises(ValueError, match=r"^s\.csv: 1 images appear twice \(first: b\.jpg\)$"):
        split_rows(labels, pd.DataFrame({"path": ["b.jpg", "a.jpg", "b.jpg"]}), "s.csv")


def test_a_pixel_array_of_other_labels_is_refused_and_nothing_written(labelled, tmp_path):
    write_csv(labelled.iloc[:5], tmp_path / "s.csv")
    write_csv(labelled.iloc[:-1], tmp_path / "fewer.csv")
    with pytest.raises(ValueError) as err:
        preprocess(tmp_path / "fewer.csv", tmp_path / "pixels.npy", tmp_path / "s.csv", tmp_path / "o.npy")
    n = len(labelled)
    assert str(err.value) == (
        f"{tmp_path / 'pixels.npy'}: {n} rows of shape (24, 24, 3) for the {n - 1} images of "
        f"{tmp_path / 'fewer.csv'}: not that step's pixel array; rerun the labels step"
    )
    assert not (tmp_path / "o.npy").exists()
    np.save(tmp_path / "scalar.npy", np.uint8(7))  # not even an array of rows
    with pytest.raises(ValueError, match=r"scalar\.npy: 0 rows of shape \(\) for the "):
        preprocess(tmp_path / "labels.csv", tmp_path / "scalar.npy", tmp_path / "s.csv", tmp_path / "o.npy")


def test_the_cli_says_error_in_one_line(labelled, tmp_path, capsys):
    from workflow_scripts.preprocess import main

    write_csv(pd.concat([labelled.iloc[:2], labelled.iloc[:1]]), tmp_path / "s.csv")
    args = ["--labels", str(tmp_path / "labels.csv"), "--pixels", str(tmp_path / "pixels.npy")]
    with pytest.raises(SystemExit) as err:
        main([*args, "--split", str(tmp_path / "s.csv"), "--out", str(tmp_path / "o.npy")])
    assert str(err.value) == f"ERROR: {tmp_path / 's.csv'}: 1 images appear twice (first: {labelled.path[0]})"
