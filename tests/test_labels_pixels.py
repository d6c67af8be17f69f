"""The label check that keeps the pixels (`labels --pixels`): each accepted image decoded once, row i of
the array = row i of labels.csv, and the same labels and rejections as the cheaper check."""

import shutil

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.decode import load_image
from workflow_scripts.labels import Pixels, build_labels, labels_from_table, main


def _dot_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("threads", [1, 2])
def test_rows_are_the_labels_rows_and_the_verdicts_equal_the_cheap_check(synth_dir, tmp_path, threads):
    cheap_labels, cheap_rejected = build_labels(synth_dir)
    out = tmp_path / "pixels.npy"
    labels, rejected = build_labels(synth_dir, threads=threads, pixels=Pixels(out, 40, "bicubic"))
    pd.testing.assert_frame_equal(labels, cheap_labels)
    pd.testing.assert_frame_equal(rejected, cheap_rejected)
    assert rejected["reason"].str.startswith("undecodable image").any()  # the quirks were checked
    arr = np.load(out, mmap_mode="r")
    assert arr.shape == (len(labels), 40, 40, 3)
    for i, rel in enumerate(labels["path"]):
        assert np.array_equal(arr[i], load_image(synth_dir / rel, 40, "bicubic")), rel
    assert _dot_files(tmp_path) == []  # no scratch array left


def test_duplicates_drop_their_rows(synth_dir, tmp_path):
    folder = tmp_path / "img"
    shutil.copytree(synth_dir, folder)
    names = sorted(p.name for p in folder.glob("*.jpg.chip.jpg"))
    # a later copy of the first image (dropped), and two copies of another that disagree on the labels
    shutil.copy(folder / names[0], folder / ("9" + names[0]))
    age, rest = names[5].split("_", 1)
    shutil.copy(folder / names[5], folder / f"{int(age) + 1}_{rest}")
    labels, rejected = build_labels(folder, pixels=Pixels(tmp_path / "p.npy", 16))
    assert names[5] not in set(labels["path"]) and names[0] in set(labels["path"])
    assert {"9" + names[0], names[5]} <= set(rejected["path"])
    arr = np.load(tmp_path / "p.npy")
    assert len(arr) == len(labels)
    assert all(np.array_equal(arr[i], load_image(folder / rel, 16)) for i, rel in enumerate(labels["path"]))
    assert _dot_files(tmp_path) == []


def test_a_table_folder_keeps_its_rows_in_path_order(synth_dir, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    names = sorted(p.name for p in synth_dir.glob("*.jpg.chip.jpg"))[:6]
    for k, name in enumerate(names):
        shutil.copy(synth_dir / name, folder / f"face{k}.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    files = ["face4.jpg", "broken.jpg", "face0.jpg", "face5.jpg", "face2.jpg", "face1.jpg", "face3.jpg"]
    pd.DataFrame({"file": files, "age": 30, "gender": "f"}).to_csv(folder / "labels.csv", index=False)
    labels, rejected = labels_from_table(folder, pixels=Pixels(tmp_path / "p.npy", 16))
    assert labels["path"].tolist() == [f"face{k}.jpg" for k in range(6)]
    assert rejected["path"].tolist() == ["broken.jpg"]
    arr = np.load(tmp_path / "p.npy")
    assert [np.array_equal(arr[k], load_image(folder / f"face{k}.jpg", 16)) for k in range(6)] == [True] * 6


def test_the_cli_writes_all_three_outputs_or_asks_for_the_size(synth_dir, tmp_path, capsys):
    args = [
        "--images",
        str(synth_dir),
        "--labels",
        str(tmp_path / "l.csv"),
        "--rejected",
        str(tmp_path / "r.csv"),
    ]
    with pytest.raises(SystemExit) as err:
        main([*args, "--pixels", str(tmp_path / "p.npy")])
    assert err.value.code == 2 and "--pixels needs --size" in capsys.readouterr().err
    assert not (tmp_path / "p.npy").exists()
    main([*args, "--pixels", str(tmp_path / "p.npy"), "--size", "12", "--interpolation", "nearest"])
    assert f"{tmp_path / 'p.npy'}: their pixels, 12x12, decoded once" in capsys.readouterr().err
    labels = pd.read_csv(tmp_path / "l.csv")
    arr = np.load(tmp_path / "p.npy")
    assert arr.shape == (len(labels), 12, 12, 3)
    assert np.array_equal(arr[-1], load_image(synth_dir / labels["path"].iloc[-1], 12, "nearest"))
