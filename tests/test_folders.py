"""Walking a user's image folder: names that are not valid UTF-8 are rejected rows, never a crash, and the
fingerprint read while the Snakefile is parsed takes any name a folder can hold; the fingerprint sees an
image replaced, removed, added or truncated in place (the labels rule reruns); symlinked folders are
followed once, loops cut, and FIFOs and broken links named as rejected entries."""

import os
import shutil

import pandas as pd
import pytest
import yaml
from helpers import LABELS, local_dir_config, snakemake

from workflow_scripts import synthetic
from workflow_scripts.folders import fingerprint, printable, scan
from workflow_scripts.labels import build_labels

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


@pytest.mark.cli
@pytest.mark.slow
def test_an_image_truncated_in_place_reruns_labels_and_is_rejected(tmp_path):
    images = tmp_path / "UTKFace"
    synthetic.generate(images, 30, seed=4, quirks=False)
    args = local_dir_config(tmp_path, images)
    snakemake(tmp_path, "-c1", *args, "--", LABELS)
    assert len(pd.read_csv(tmp_path / LABELS)) == 30
    victim = sorted(images.iterdir())[3]
    victim.write_bytes(victim.read_bytes()[:300])  # truncated in place: the folder's time does not change
    dry = snakemake(tmp_path, "-n", "-c1", *args, "--", LABELS)
    assert "Nothing to be done" not in dry.stdout + dry.stderr
    snakemake(tmp_path, "-c1", *args, "--", LABELS)
    rejected = pd.read_csv(tmp_path / "results/data/labels_rejected.csv")
    assert rejected["path"].tolist() == [victim.name] and "undecodable" in rejected["reason"][0]
    again = snakemake(tmp_path, "-n", "-c1", *args, "--", LABELS)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_fingerprint_sees_replacement_removal_and_addition(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"1")
    first = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == first
    (tmp_path / "a.jpg").write_bytes(b"22")
    second = fingerprint(tmp_path)
    (tmp_path / "b.jpg").write_bytes(b"3")
    third = fingerprint(tmp_path)
    os.remove(tmp_path / "b.jpg")
    assert len({first, second, third}) == 3 and fingerprint(tmp_path) == second


@pytest.fixture()
def odd_folder(tmp_path):
    """20 faces at the top, 10 in a symlinked folder, a link loop, a FIFO named like a face, a broken link."""
    root = tmp_path / "UTKFace"
    synthetic.generate(root, 20, seed=2, quirks=False)
    elsewhere = tmp_path / "more"
    synthetic.generate(elsewhere, 10, seed=9, quirks=False)
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    os.mkfifo(root / "30_1_0_20170101000000000.jpg.chip.jpg")
    (root / "40_0_1_20170101000000001.jpg.chip.jpg").symlink_to(tmp_path / "gone.jpg")
    return root


@pytest.mark.timeout(60)  # a FIFO opened for reading would hang here forever
def test_folder_walk_follows_links_once_and_names_odd_entries(odd_folder):
    labels, rejected = build_labels(odd_folder, threads=2)
    assert len(labels) == 30
    assert sum(p.startswith("linked/") for p in labels["path"]) == 10
    assert not any(p.startswith("loop/") for p in labels["path"])
    reasons = dict(zip(rejected["path"], rejected["reason"], strict=True))
    assert reasons["30_1_0_20170101000000000.jpg.chip.jpg"] == "not a regular file: FIFO"
    assert reasons["40_0_1_20170101000000001.jpg.chip.jpg"] == "not a regular file: broken symbolic link"
    assert fingerprint(odd_folder) == fingerprint(odd_folder)  # terminates on the loop too
