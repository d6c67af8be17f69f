"""Walking a user's image folder: names that are not valid UTF-8 are rejected rows, never a crash, and the
fingerprint read while the Snakefile is parsed takes any name a folder can hold."""

import os
import shutil

import pytest
import yaml
from helpers import snakemake

from workflow_scripts import synthetic
from workflow_scripts.folders import fingerprint, printable, scan

BAD = b"\xff.jpg"  # Latin-1 'ÿ', not UTF-8: a name an old camera or a zip from another system leaves


def _with_bad_name(folder, content=b"not an image"):
    """`folder` plus one file whose name is not valid UTF-8, made through its bytes."""
    with open(os.path.join(os.fsencode(folder), BAD), "wb") as f:
        f.write(content)
    return folder


def test_a_name_not_in_utf8_is_one_rejected_row_shown_losslessly(tmp_path):
    synthetic.generate(tmp_path, 3, seed=1, quirks=False)
    _with_bad_name(tmp_path)
    files, rejected = scan(tmp_path)
    assert len(files) == 3 and all(f.endswith(".jpg") for f in files)
    assert rejected == [{"path": "\\xff.jpg", "reason": "file name is not valid UTF-8"}]
    assert printable(os.fsdecode(BAD)) == "\\xff.jpg"
    assert printable("UTKFace/1_0_0_2017.jpg") == "UTKFace/1_0_0_2017.jpg"  # a UTF-8 name is itself


def test_the_fingerprint_takes_a_name_not_in_utf8_and_sees_it_change(tmp_path):
    synthetic.generate(tmp_path, 3, seed=1, quirks=False)
    before = fingerprint(tmp_path)
    _with_bad_name(tmp_path)
    with_bad = fingerprint(tmp_path)
    assert with_bad != before and fingerprint(tmp_path) == with_bad
    os.remove(os.path.join(os.fsencode(tmp_path), BAD))
    assert fingerprint(tmp_path) == before


@pytest.mark.cli
def test_the_workflow_plans_and_labels_a_folder_holding_a_name_not_in_utf8(tmp_path, synth_dir):
    """The fingerprint is taken while the Snakefile is parsed: a crash there stopped every command."""
    images = tmp_path / "images"
    shutil.copytree(synth_dir, images)
    _with_bad_name(images)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"dataset": {"local_dir": str(images)}, "image_size": 32}))
    args = ("-c1", "--configfile", str(cfg), "--", "results/data/labels.csv")
    plan = snakemake(tmp_path, "-n", *args)
    assert "rule labels:" in plan.stdout + plan.stderr
    snakemake(tmp_path, *args)
    rejected = (tmp_path / "results/data/labels_rejected.csv").read_text().splitlines()
    assert "\\xff.jpg,file name is not valid UTF-8" in rejected
