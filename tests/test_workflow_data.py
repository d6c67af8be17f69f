"""The data half of the DAG, run by the real snakemake CLI on the synthetic demo archive."""

import socket

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, snakemake

TARGETS = [f"results/data/arrays/{s}_images.npy" for s in ("train", "val", "test")]


# (the data half only: the demo's claims grid, asked for by demo.yaml, is not)
SMALL = "synthetic: {n_images: 300}\nsplit: {train_val_size: 200}\nclaims: {enabled: false}\n"


@pytest.mark.cli
def test_data_half_on_the_demo_config(tmp_path):
    (tmp_path / "small.yaml").write_text(SMALL)
    args = ("--configfile", str(ROOT / "config/demo.yaml"), str(tmp_path / "small.yaml"))
    snakemake(tmp_path, "-c2", *args, "--", *TARGETS)
    labels = pd.read_csv(tmp_path / "results/data/labels.csv")
    rejected = pd.read_csv(tmp_path / "results/data/labels_rejected.csv")
    assert len(labels) == 300 and len(rejected) == 7
    assert "7 rejected" in (tmp_path / "logs/labels.log").read_text()
    sizes = {}
    for s in ("train", "val", "test"):
        arr = np.load(tmp_path / f"results/data/arrays/{s}_images.npy", mmap_mode="r")
        sizes[s] = len(arr)
        assert arr.shape[1:] == (64, 64, 3) and arr.dtype == np.uint8
        assert len(pd.read_csv(tmp_path / f"results/data/splits/{s}.csv")) == len(arr)
    assert sizes == {"train": 160, "val": 40, "test": 100}
    for f in ("extract_archive", "labels", "preprocess/train"):
        assert (tmp_path / f"benchmarks/{f}.tsv").exists()
    # Nothing left to do on a second run.
    again = snakemake(tmp_path, "-c2", *args, "-n", "--", *TARGETS)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.cli
def test_offline_download_fails_naming_the_local_archive_key(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "c.yaml").write_text(
        f"dataset:\n  url: http://127.0.0.1:{port}/UTKFace.tar.gz\n  retries: 1\n  backoff_s: 0\n"
    )
    proc = snakemake(
        tmp_path,
        "-c1",
        "--configfile",
        str(tmp_path / "c.yaml"),
        "--",
        "results/data/labels.csv",
        check=False,
    )
    assert proc.returncode != 0
    log = (tmp_path / "logs/download_archive.log").read_text()
    assert "dataset.local_archive" in log and "cannot download" in log
    assert not (tmp_path / "resources/UTKFace.tar.gz").exists()
