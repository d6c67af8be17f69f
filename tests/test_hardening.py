"""Faults a new user meets, run through the real `snakemake` where the case is about reruns or messages:
images changed in place, odd folder entries, bad archives, messages that name the file or key."""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pandas as pd
import pytest
import yaml
from helpers import ROOT, snakemake

from workflow_scripts import synthetic
from workflow_scripts.folders import fingerprint
from workflow_scripts.labels import build_labels, parse_name

LABELS = "results/data/labels.csv"


def _local_dir_config(tmp_path, images):
    cfg = tmp_path / "local.yaml"
    cfg.write_text(yaml.safe_dump({"dataset": {"local_dir": str(images), "md5": None}}))
    return ("--configfile", str(cfg))


@pytest.mark.cli
@pytest.mark.slow
def test_an_image_truncated_in_place_reruns_labels_and_is_rejected(tmp_path):
    images = tmp_path / "UTKFace"
    synthetic.generate(images, 30, seed=4, quirks=False)
    args = _local_dir_config(tmp_path, images)
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


def test_other_scripts_digits_are_not_an_age():
    fields, reason = parse_name("３８_1_3_20170104235421282.jpg.chip.jpg")
    assert fields is None and "malformed name" in reason


def _archive_case(tmp_path, kind):
    good = tmp_path / "good"
    synthetic.generate(good / "UTKFace", 12, seed=1, quirks=False)
    path = tmp_path / "UTKFace.tar.gz"
    if kind == "truncated":
        with tarfile.open(path, "w:gz") as tar:
            tar.add(good / "UTKFace", arcname="UTKFace")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "zip named .tar.gz":
        with zipfile.ZipFile(path, "w") as z:
            for f in (good / "UTKFace").iterdir():
                z.write(f, f"UTKFace/{f.name}")
    elif kind == "empty":
        with tarfile.open(path, "w:gz"):
            pass
    return path


@pytest.mark.cli
@pytest.mark.parametrize("kind", ["truncated", "empty"])
def test_a_bad_archive_fails_in_one_line_naming_the_archive_and_the_key(tmp_path, kind):
    archive = _archive_case(tmp_path, kind)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"dataset": {"local_archive": str(archive), "md5": None}}))
    proc = snakemake(tmp_path, "-c1", "--configfile", str(cfg), "--", LABELS, check=False)
    assert proc.returncode != 0
    terminal = proc.stderr + proc.stdout
    line = next(ln for ln in terminal.splitlines() if ln.startswith("ERROR:"))
    assert str(archive) in line and "dataset.local_archive" in line, line
    assert "Traceback" not in terminal
    assert not (tmp_path / "results/data/extracted").exists()


def test_a_zip_renamed_tar_gz_is_read_by_its_content(tmp_path):
    from workflow_scripts.extract import extract

    archive = _archive_case(tmp_path, "zip named .tar.gz")
    assert extract(archive, tmp_path / "out") == 12


def _dry_run_fails(tmp_path, config_text):
    """A dry run with a config file holding `config_text`, which must fail: (the file, its output)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config_text)
    proc = snakemake(tmp_path, "-n", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    return cfg, proc.stdout + proc.stderr


@pytest.mark.cli
def test_a_yaml_error_in_a_config_file_names_the_file_and_line(tmp_path):
    cfg, _ = _dry_run_fails(tmp_path, "seed: 3\nsplit:\n  train_val_size: [1, 2\n")

    # Snakemake reads --configfile before our Snakefile runs and names neither file nor line; our
    # checker, which the message's README section points to, does
    def configcheck(path):
        cmd = [sys.executable, "-m", "workflow_scripts.configcheck", str(path)]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)

    check = configcheck(cfg)
    assert check.returncode == 1
    assert f"ERROR: {cfg}, line 4, column 1: not valid YAML" in check.stderr
    good = configcheck(ROOT / "config/demo.yaml")
    assert good.returncode == 0 and "valid" in good.stdout


@pytest.mark.cli
def test_a_missing_local_archive_is_refused_naming_the_key_not_downloaded(tmp_path):
    _, out = _dry_run_fails(tmp_path, "dataset: {local_archive: resources/UTKFace.tar.gz}\n")
    assert "config key `dataset.local_archive`: no file resources/UTKFace.tar.gz" in out
    assert "rule download_archive" not in out


@pytest.mark.cli
def test_a_failing_rule_shows_its_own_message_on_the_terminal(tmp_path):
    empty = tmp_path / "nothing_usable"
    empty.mkdir()
    (empty / "readme.txt").write_text("no faces here")
    proc = snakemake(tmp_path, "-c1", *_local_dir_config(tmp_path, empty), "--", LABELS, check=False)
    assert proc.returncode != 0
    assert "no usable UTKFace image found (1 rejected)" in proc.stderr
    shutil.rmtree(empty)
