import os
import shutil

import pytest
from PIL import Image

from workflow_scripts.labels import build_labels, main, parse_name, read_labels, reason_kind
from workflow_scripts.synthetic import REAL_BAD_NAMES

REAL_BAD = {
    "24_0_1_20170116220224657 .jpg.chip.jpg": "white space",
    "55_0_0_20170116232725357jpg.chip.jpg": "missing '.'",
    "39_1_20170116174525125.jpg.chip.jpg": "no race field",
    "61_1_20170109142408075.jpg.chip.jpg": "no race field",
    "61_1_20170109150557335.jpg.chip.jpg": "no race field",
}


@pytest.mark.parametrize("name,why", sorted(REAL_BAD.items()))
def test_the_five_real_malformed_names_are_rejected_with_a_reason(name, why):
    fields, reason = parse_name(name)
    assert fields is None
    assert why in reason


def test_generator_plants_exactly_the_real_bad_names():
    assert {n for n, *_ in REAL_BAD_NAMES} == set(REAL_BAD)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("1_0_0_20161219203650636.jpg.chip.jpg", {"age": 1, "gender": 0, "race": 0}),
        ("116_1_4_20170120134921760.jpg.chip.jpg", {"age": 116, "gender": 1, "race": 4}),
        ("26_1_3_20170104235421282.jpg", {"age": 26, "gender": 1, "race": 3}),
    ],
)
def test_well_formed_names_parse(name, expected):
    fields, reason = parse_name(name)
    assert reason is None
    assert {k: fields[k] for k in expected} == expected
    assert fields["datetime"].isdigit()


@pytest.mark.parametrize(
    "name,why",
    [
        ("30_2_0_20170116174525125.jpg.chip.jpg", "gender 2"),
        ("30_0_5_20170116174525125.jpg.chip.jpg", "race 5"),
        ("30_0_0_20170116174525125.png", "not a JPEG"),
        ("a_0_0_20170116174525125.jpg.chip.jpg", "not AGE_GENDER"),
        ("30__0_20170116174525125.jpg.chip.jpg", "not AGE_GENDER"),
        ("30_0_0_20170116174525125_x.jpg.chip.jpg", "not AGE_GENDER"),
    ],
)
def test_bad_fields_are_rejected(name, why):
    fields, reason = parse_name(name)
    assert fields is None and why in reason


def test_build_labels_rejects_quirks_and_keeps_the_rest(synth_dir):
    labels, rejected = build_labels(synth_dir.parent, threads=2)
    reasons = dict(zip(rejected["path"].str.split("/").str[-1], rejected["reason"], strict=True))
    for name in REAL_BAD:
        assert name in reasons
    assert any("truncated" in r for r in reasons.values())
    assert sum("duplicate of" in r for r in reasons.values()) == 1
    assert len(labels) == 60  # 60 faces; the duplicate's first copy is kept
    assert labels["path"].is_monotonic_increasing
    assert set(labels["gender"]) <= {0, 1} and labels["age"].between(1, 116).all()
    assert not set(labels["path"]) & set(rejected["path"])


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


def test_reason_kind_groups_reasons_for_counts():
    assert reason_kind("malformed name: missing '.' before 'jpg'") == "malformed name"
    assert reason_kind("byte-identical duplicate of UTKFace/a.jpg") == "byte-identical duplicate"
    assert reason_kind("age 0 outside 1-116") == "age 0 outside 1-116"


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
