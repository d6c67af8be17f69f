"""Labelling an image folder (`build_labels`: the walk's decode check, duplicates, age limits, whole tables
of labels and rejections compared row by row) or a folder with its own labels.csv (`labels_from_table`);
the two CSVs written and read back with their types; the `labels` command line and its log. File names
are parsed in test_labels.py; the pixel array of `labels --pixels` is in test_labels_pixels.py."""

import io
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from workflow_scripts import labels as labels_mod
from workflow_scripts.labels import build_labels, check_image, labels_from_table, main
from workflow_scripts.labeltable import LABEL_COLUMNS, read_labels, write_csv


def test_age_range_and_conflicting_duplicates(tmp_path, synth_dir):
    src = sorted(synth_dir.glob("*_*_*_*.jpg.chip.jpg"))[0]
    shutil.copy(src, tmp_path / "0_0_0_20170101000000000.jpg.chip.jpg")
    shutil.copy(src, tmp_path / "117_0_0_20170101000000001.jpg.chip.jpg")
    # the same bytes under two names that disagree on the labels: neither can be trusted
    shutil.copy(src, tmp_path / "20_0_0_20170101000000002.jpg.chip.jpg")
    shutil.copy(src, tmp_path / "70_1_0_20170101000000003.jpg.chip.jpg")
    Image.new("L", (50, 50), 128).save(tmp_path / "40_1_2_20170101000000004.jpg.chip.jpg")
    (tmp_path / "41_1_2_20170101000000005.jpg.chip.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    labels, rejected = build_labels(tmp_path)
    by_name = dict(zip(rejected["path"], rejected["reason"], strict=True))
    assert "outside 1-116" in by_name["0_0_0_20170101000000000.jpg.chip.jpg"]
    assert "outside 1-116" in by_name["117_0_0_20170101000000001.jpg.chip.jpg"]
    assert "conflicting labels" in by_name["20_0_0_20170101000000002.jpg.chip.jpg"]
    assert "conflicting labels" in by_name["70_1_0_20170101000000003.jpg.chip.jpg"]
    assert "undecodable" in by_name["41_1_2_20170101000000005.jpg.chip.jpg"]
    assert labels["path"].tolist() == ["40_1_2_20170101000000004.jpg.chip.jpg"]  # greyscale is fine
    assert ".DS_Store" not in by_name


def test_cli_writes_both_csvs_and_fails_clearly_on_missing_folder(tmp_path, synth_dir):
    main(
        [
            "--images",
            str(synth_dir),
            "--labels",
            str(tmp_path / "l.csv"),
            "--rejected",
            str(tmp_path / "r.csv"),
        ]
    )
    assert len(read_labels(tmp_path / "l.csv")) == 60
    assert (tmp_path / "r.csv").read_text().startswith("path,reason\n")
    with pytest.raises(SystemExit, match="dataset.local_dir"):
        main(
            [
                "--images",
                str(tmp_path / "nope"),
                "--labels",
                str(tmp_path / "x.csv"),
                "--rejected",
                str(tmp_path / "y.csv"),
            ]
        )
    assert not (tmp_path / "x.csv").exists()


def test_dedup_keeps_the_first_copy_by_path_and_names_it(tmp_path, synth_dir):
    src = sorted(synth_dir.glob("*_*_*_*.jpg.chip.jpg"))[0]
    first, second = "25_0_0_20170101000000001.jpg.chip.jpg", "25_0_0_20170101000000002.jpg.chip.jpg"
    shutil.copy(src, tmp_path / second)
    shutil.copy(src, tmp_path / first)
    labels, rejected = build_labels(tmp_path)
    assert labels["path"].tolist() == [first]
    assert rejected.set_index("path")["reason"].to_dict() == {second: f"byte-identical duplicate of {first}"}


def _add_bad_name(folder):
    """A copy of a face under a name that is not valid UTF-8 (b"\xff" is Latin-1 'ÿ'), made from its bytes."""
    face = next(p for p in sorted(folder.iterdir()) if p.name.endswith(".chip.jpg"))
    shutil.copy(face, os.path.join(os.fsencode(folder), b"30_0_0_2017\xff.jpg.chip.jpg"))


def test_a_name_not_in_utf8_is_rejected_with_its_reason_and_the_rest_labelled(tmp_path, synth_dir):
    folder = tmp_path / "UTKFace"
    shutil.copytree(synth_dir, folder)
    _add_bad_name(folder)
    labels, rejected = build_labels(folder)
    assert len(labels) == 60
    row = rejected[rejected["path"] == "30_0_0_2017\\xff.jpg.chip.jpg"]
    assert row["reason"].tolist() == ["file name is not valid UTF-8"]


def test_the_cli_writes_a_name_not_in_utf8_into_the_reject_list(tmp_path, synth_dir):
    folder = tmp_path / "UTKFace"
    shutil.copytree(synth_dir, folder)
    _add_bad_name(folder)
    main(
        ["--images", str(folder), "--labels", str(tmp_path / "l.csv"), "--rejected", str(tmp_path / "r.csv")]
    )
    assert len(read_labels(tmp_path / "l.csv")) == 60
    text = (tmp_path / "r.csv").read_text(encoding="utf-8")
    assert "30_0_0_2017\\xff.jpg.chip.jpg,file name is not valid UTF-8\n" in text


def _jpeg(path, shade, size=40):
    Image.new("RGB", (size, size), (shade, 255 - shade, 90)).save(path, "JPEG", quality=90)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "UTKFace"
    d.mkdir()
    _jpeg(d / "1_0_0_20170101000000001.jpg.chip.jpg", 10)  # youngest kept age
    _jpeg(d / "116_1_4_20170101000000002.jpg", 20)  # oldest kept age, short suffix
    _jpeg(d / "0_0_0_20170101000000003.jpg.chip.jpg", 30)
    _jpeg(d / "117_0_0_20170101000000004.jpg.chip.jpg", 40)
    _jpeg(d / "30_1_2_20170101000000005.jpg.chip.jpg", 50)
    # same bytes, same labels: the first by path is kept, the others named as its duplicates
    for stamp in ("00", "07", "08"):
        shutil.copy(
            d / "30_1_2_20170101000000005.jpg.chip.jpg", d / f"30_1_2_201701010000000{stamp}.jpg.chip.jpg"
        )
    _jpeg(d / "20_0_1_20170101000000009.jpg.chip.jpg", 60)
    shutil.copy(d / "20_0_1_20170101000000009.jpg.chip.jpg", d / "21_0_1_20170101000000010.jpg.chip.jpg")
    (d / "44_1_3_20170101000000011.jpg.chip.jpg").write_bytes(b"\xff\xd8\xff not really")
    good = io.BytesIO()
    Image.new("RGB", (60, 60), (1, 2, 3)).save(good, "JPEG")
    (d / "45_1_3_20170101000000012.jpg.chip.jpg").write_bytes(good.getvalue()[:300])
    for name in (
        "24_0_1_20170116220224657 .jpg.chip.jpg",
        "55_0_0_20170116232725357jpg.chip.jpg",
        "39_1_20170116174525125.jpg.chip.jpg",
        "30_2_0_20170101000000013.jpg.chip.jpg",
        "30_0_5_20170101000000014.jpg.chip.jpg",
        "notes.txt",
        "x_0_0_1.jpg",
    ):
        _jpeg(d / name, 70) if name.endswith("jpg") else (d / name).write_text("x")
    return d


def test_build_labels_whole_tables(folder):
    labels, rejected = build_labels(folder, min_age=1, max_age=116)
    expected = pd.DataFrame(
        [
            ("116_1_4_20170101000000002.jpg", 116, 1, 4, "20170101000000002"),
            ("1_0_0_20170101000000001.jpg.chip.jpg", 1, 0, 0, "20170101000000001"),
            ("30_1_2_20170101000000000.jpg.chip.jpg", 30, 1, 2, "20170101000000000"),
        ],
        columns=LABEL_COLUMNS,
    )
    pd.testing.assert_frame_equal(labels, expected)
    first = "30_1_2_20170101000000000.jpg.chip.jpg"
    conflict = "20_0_1_20170101000000009.jpg.chip.jpg, 21_0_1_20170101000000010.jpg.chip.jpg"
    want = {
        "0_0_0_20170101000000003.jpg.chip.jpg": "age 0 outside 1-116",
        "117_0_0_20170101000000004.jpg.chip.jpg": "age 117 outside 1-116",
        "20_0_1_20170101000000009.jpg.chip.jpg": f"byte-identical copies with conflicting labels: {conflict}",
        "21_0_1_20170101000000010.jpg.chip.jpg": f"byte-identical copies with conflicting labels: {conflict}",
        "24_0_1_20170116220224657 .jpg.chip.jpg": "malformed name: contains white space",
        "30_0_5_20170101000000014.jpg.chip.jpg": "malformed name: race 5 is not 0-4",
        "30_1_2_20170101000000005.jpg.chip.jpg": f"byte-identical duplicate of {first}",
        "30_2_0_20170101000000013.jpg.chip.jpg": "malformed name: gender 2 is not 0 or 1",
        "30_1_2_20170101000000007.jpg.chip.jpg": f"byte-identical duplicate of {first}",
        "30_1_2_20170101000000008.jpg.chip.jpg": f"byte-identical duplicate of {first}",
        "39_1_20170116174525125.jpg.chip.jpg": "malformed name: 3 fields instead of 4 (no race field)",
        "44_1_3_20170101000000011.jpg.chip.jpg": "undecodable image: not an image format Pillow can read",
        "45_1_3_20170101000000012.jpg.chip.jpg": r"undecodable image: OSError: .*[Tt]runcated.*",
        "55_0_0_20170116232725357jpg.chip.jpg": "malformed name: missing '.' before 'jpg'",
        "notes.txt": "not a JPEG file name",
        "x_0_0_1.jpg": "malformed name: not AGE_GENDER_RACE_DATETIME.jpg.chip.jpg",
    }
    assert list(rejected.columns) == ["path", "reason"] and list(rejected.index) == list(range(len(want)))
    assert rejected["path"].tolist() == sorted(want)
    for path, reason in zip(rejected["path"], rejected["reason"], strict=True):
        pattern = want[path] if "OSError" in want[path] else re.escape(want[path])
        assert re.fullmatch(pattern, reason), (path, reason)


def test_age_limits_are_parameters(folder):
    labels, rejected = build_labels(folder, min_age=2, max_age=115)
    assert labels["path"].tolist() == ["30_1_2_20170101000000000.jpg.chip.jpg"]
    reasons = dict(zip(rejected["path"], rejected["reason"], strict=True))
    assert reasons["1_0_0_20170101000000001.jpg.chip.jpg"] == "age 1 outside 2-115"
    assert reasons["116_1_4_20170101000000002.jpg"] == "age 116 outside 2-115"


def test_check_image_of_a_file_that_went_away(tmp_path):
    assert check_image(tmp_path / "gone.jpg") == ("", "unreadable file: No such file or directory")
    _jpeg(tmp_path / "ok.jpg", 5)
    digest, reason = check_image(tmp_path / "ok.jpg")
    assert reason is None and re.fullmatch("[0-9a-f]{40}", digest)


def test_labels_from_table_whole_tables(tmp_path):
    for name, shade in (("a.jpg", 1), ("b.png", 2), ("c.jpg", 3), ("d.jpg", 4), ("e.jpg", 5)):
        _jpeg(tmp_path / name, shade) if name.endswith("jpg") else Image.new("RGB", (9, 9)).save(
            tmp_path / name
        )
    (tmp_path / "broken.jpg").write_bytes(b"nope")
    (tmp_path / "labels.csv").write_text(
        "file,age,gender,race\n"
        "c.jpg,1,0,0\n"
        " a.jpg ,007,Male,\n"
        "b.png,116,f,4\n"
        "d.jpg,0,1,1\n"
        "e.jpg,117,1,1\n"
        "x.jpg,3.5,1,1\n"
        "y.jpg,٣,1,1\n"
        "z.jpg,30,w,1\n"
        "w.jpg,30,1,5\n"
        "broken.jpg,30,1,2\n"
    )
    labels, rejected = labels_from_table(tmp_path, min_age=1, max_age=116)
    expected = pd.DataFrame(
        [("a.jpg", 7, 0, -1, ""), ("b.png", 116, 1, 4, ""), ("c.jpg", 1, 0, 0, "")], columns=LABEL_COLUMNS
    )
    pd.testing.assert_frame_equal(labels, expected)
    got = dict(zip(rejected["path"], rejected["reason"], strict=True))
    assert list(rejected.index) == list(range(len(got))) and rejected["path"].is_monotonic_increasing
    assert got == {
        "broken.jpg": "undecodable image: not an image format Pillow can read",
        "d.jpg": "age '0' is not a whole number in 1-116",
        "e.jpg": "age '117' is not a whole number in 1-116",
        "x.jpg": "age '3.5' is not a whole number in 1-116",
        "y.jpg": "age '٣' is not a whole number in 1-116",
        "z.jpg": "gender 'w' is not 0/1 or male/female",
        "w.jpg": "race '5' is not 0-4",
    }


def test_labels_from_table_without_race_and_with_missing_columns(tmp_path):
    _jpeg(tmp_path / "a.jpg", 1)
    (tmp_path / "labels.csv").write_text("file,age,gender\na.jpg,40,female\n")
    labels, rejected = labels_from_table(tmp_path)
    assert labels.to_dict("records") == [
        {"path": "a.jpg", "age": 40, "gender": 1, "race": -1, "datetime": ""}
    ]
    assert rejected.empty and list(rejected.columns) == ["path", "reason"]
    (tmp_path / "labels.csv").write_text("name,age\na.jpg,40\n")
    with pytest.raises(ValueError) as err:
        labels_from_table(tmp_path)
    assert (
        str(err.value)
        == f"{tmp_path / 'labels.csv'}: needs the columns file, age, gender (missing ['file', 'gender'])"
    )


def test_csv_round_trip_keeps_types_and_digits(tmp_path):
    df = pd.DataFrame([("a.jpg", 7, 0, 2, "0017")], columns=LABEL_COLUMNS)
    write_csv(df, tmp_path / "l.csv")
    assert (tmp_path / "l.csv").read_bytes() == b"path,age,gender,race,datetime\na.jpg,7,0,2,0017\n"
    back = read_labels(tmp_path / "l.csv")
    pd.testing.assert_frame_equal(back, df)
    assert [str(t) for t in back.dtypes[1:4]] == ["int64"] * 3
    assert pd.api.types.is_string_dtype(back["path"]) and pd.api.types.is_string_dtype(back["datetime"])
    assert [p.name for p in tmp_path.iterdir()] == ["l.csv"]


def test_main_passes_every_option_and_logs_the_counts(folder, tmp_path, monkeypatch, capsys):
    seen = {}
    real = labels_mod.check_images

    def spy(paths, threads=1):
        seen["threads"] = threads
        return real(paths, 1)

    monkeypatch.setattr(labels_mod, "check_images", spy)
    out = [str(tmp_path / "l.csv"), str(tmp_path / "r.csv")]
    args = ["--images", str(folder), "--labels", out[0], "--rejected", out[1], "--min-age", "2"]
    labels_mod.main([*args, "--max-age", "115", "--threads", "3"])
    assert seen["threads"] == 3
    assert read_labels(out[0])["path"].tolist() == ["30_1_2_20170101000000000.jpg.chip.jpg"]
    lines = [line.split("utkface.labels: ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert lines == [
        "1 images labelled, 18 rejected",
        "  rejected     6: malformed name",
        "  rejected     3: byte-identical duplicate",
        "  rejected     2: byte-identical copies with conflicting labels",
        "  rejected     2: undecodable image",
        # ties in the order of the sorted paths
        "  rejected     1: age 0 outside 2-115",
        "  rejected     1: age 116 outside 2-115",
        "  rejected     1: age 117 outside 2-115",
        "  rejected     1: age 1 outside 2-115",
        "  rejected     1: not a JPEG file name",
    ]
    for missing in ("--images", "--labels", "--rejected"):
        i = args.index(missing)
        with pytest.raises(SystemExit) as err:
            labels_mod.main(args[:i] + args[i + 2 :])
        assert err.value.code == 2


def test_defaults_are_the_config_schemas():
    import inspect

    import yaml
    from helpers import ROOT

    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())["properties"]["labels"]["properties"]
    for fn in (build_labels, labels_from_table):
        params = inspect.signature(fn).parameters
        assert params["min_age"].default == schema["min_age"]["default"]
        assert params["max_age"].default == schema["max_age"]["default"]


def test_a_folder_with_nothing_usable_gives_empty_tables_with_their_columns(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    labels, rejected = build_labels(tmp_path)
    assert list(labels.columns) == LABEL_COLUMNS and labels.empty
    assert rejected.to_dict("records") == [{"path": "a.txt", "reason": "not a JPEG file name"}]
    (tmp_path / "labels.csv").write_text("file,age,gender\na.txt,0,1\n")
    labels, rejected = labels_from_table(tmp_path)
    assert list(labels.columns) == LABEL_COLUMNS and labels.empty and len(rejected) == 1
    # an empty split still reads with its types
    write_csv(labels, tmp_path / "empty.csv")
    back = read_labels(tmp_path / "empty.csv")
    assert [str(t) for t in back.dtypes[1:4]] == ["int64"] * 3
    assert pd.api.types.is_string_dtype(back["path"]) and pd.api.types.is_string_dtype(back["datetime"])


def test_many_images_checked_in_processes_as_in_one(tmp_path):
    # above 200 images and with 2 threads the checks run in a process pool: same answers, same order
    rng = np.random.default_rng(0)
    for i in range(230):
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{1 + i % 90}_{i % 2}_{i % 5}_{i:03d}.jpg")
    (tmp_path / "5_0_0_999.jpg").write_bytes(b"broken")
    one = build_labels(tmp_path, threads=1)
    two = build_labels(tmp_path, threads=2)
    pd.testing.assert_frame_equal(one[0], two[0])
    pd.testing.assert_frame_equal(one[1], two[1])
    assert len(two[0]) == 230 and "5_0_0_999.jpg" in set(two[1]["path"])
