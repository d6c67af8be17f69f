"""Image file names read as labels (`parse_name`): well-formed names parsed, bad ones rejected with their
reason (the five malformed names of the real UTKFace too, also within a whole synthetic folder), and the
reasons grouped for the counts. Labelling a folder or a table and the `labels` command line are in
test_labels_folders.py; the pixel array of `labels --pixels` in test_labels_pixels.py."""

import pytest

from workflow_scripts.labels import build_labels, parse_name
from workflow_scripts.labeltable import reason_kind
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


def test_other_scripts_digits_are_not_an_age():
    fields, reason = parse_name("３８_1_3_20170104235421282.jpg.chip.jpg")
    assert fields is None and "malformed name" in reason


def test_reason_kind_groups_reasons_for_counts():
    assert reason_kind("malformed name: missing '.' before 'jpg'") == "malformed name"
    assert reason_kind("byte-identical duplicate of UTKFace/a.jpg") == "byte-identical duplicate"
    assert reason_kind("age 0 outside 1-116") == "age 0 outside 1-116"


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
