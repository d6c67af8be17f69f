"""Faults in the middle of the work: a full disk, and kills of `labels` (which decodes the images) and
`train` at named moments (pause points the step reaches, `workflow_scripts.pausepoints`), never at a
moment guessed from the clock. A rerun must end with outputs equal to an uninterrupted run, and no
temporary file may be left."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, full_config, kill_at_pause, train_cmd

from workflow_scripts import synthetic
from workflow_scripts.decode import NoSpaceError
from workflow_scripts.labels import Pixels, build_labels

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    synthetic.generate(root / "img", 600, seed=12, quirks=False, workers=2)
    return root


def _tmp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture()
def small_disk(tmp_path):
    """A real 2 MB file system (tmpfs), so that a write really runs out of space."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("mounting a tmpfs needs root")
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.cli
def test_a_full_disk_is_a_clear_error_with_the_bytes_needed_and_free(faces, small_disk):
    with pytest.raises(NoSpaceError, match=r"needs 29\.5 MB, [\d.]+ MB are free") as err:
        build_labels(faces / "img", pixels=Pixels(small_disk / "pixels.npy", 128))
    assert str(small_disk) in str(err.value)
    assert list(small_disk.iterdir()) == []  # nothing half-written is left
    # through the job's command line: one line on the terminal, exit status 1
    cmd = _labels_cmd(faces, small_disk / "a.npy", 128)
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith("ERROR:")
    assert "no space left" in proc.stderr
    assert list(small_disk.iterdir()) == [] and not (faces / "l.csv").exists()


def _labels_cmd(faces, pixels, size=96):
    return [sys.executable, "-m", "workflow_scripts.labels", "--images", str(faces / "img"),
            "--labels", str(faces / "l.csv"), "--rejected", str(faces / "r.csv"), "--pixels", str(pixels),
            "--size", str(size), "--threads", "2"]  # fmt: skip


@pytest.mark.cli
def test_labels_killed_at_chosen_moments_then_rerun_equals_an_uninterrupted_run(faces, tmp_path):
    """Killed while its workers decode (early, and after several tasks each) and once every row is decoded
    but before the array is renamed into place: never a half-written array where the output goes, the
    temporary files a kill leaves are removed by the rerun, and its array equals an uninterrupted run's."""
    reference = tmp_path / "ref" / "x.npy"
    build_labels(faces / "img", threads=2, pixels=Pixels(reference, 96))
    out = tmp_path / "run" / "x.npy"
    out.parent.mkdir()
    for point in ("decode-row@30", "decode-row@200", "pixels-kept@1"):
        kill_at_pause(_labels_cmd(faces, out), point, tmp_path / "paused", ENV, limit_s=300)
        assert not out.exists()  # never a half-written array where the output goes
        assert _tmp_files(out.parent), point  # the kill did leave its scratch array behind...
    subprocess.run(_labels_cmd(faces, out), env=ENV, check=True, timeout=300)
    assert _tmp_files(out.parent) == []  # ...and the rerun removed it
    assert np.array_equal(np.load(out), np.load(reference))


def _train_cmd(tiny, out, model="A", epochs=8):
    cfg = full_config(
        image_size=32,
        train={"epochs": epochs},
        model_a={"batch_size": 16, "lr_patience": 1},
        model_b={"batch_size": 16, "lr_patience": 1, "frozen_epochs": 3, "weights": "none"},
    )
    return train_cmd(out, tiny, cfg, model, seed=5)


def _weights(path):
    from workflow_scripts.tfsetup import configure_tensorflow

    configure_tensorflow()
    import keras

    from workflow_scripts import models  # noqa: F401 - registers the custom layers

    return [np.asarray(w) for w in keras.models.load_model(path).get_weights()]


# Where each run is killed, counted within that run's process (each resumes from the one before). A has
# 8 epochs of 8 batches; B 3 frozen + 5 unfrozen. Every point is reached in every run: training is
# deterministic on the CPU, so whether a given epoch improves the best loss is too.
KILLS = {
    "A": [
        "batch-done@12",  # in the middle of epoch 2
        "state-written@2",  # inside the state write: complete temporary file, not yet renamed
        "best-saved@1",  # a new best model saved, the state that holds it not yet written
        "state-renamed@2",  # the new state in place, the one before not yet removed
    ],
    "B": [
        "batch-done@12",  # epoch 2, frozen
        "epoch-saved@2",  # right after the last frozen epoch's state: the rerun starts the unfreezing
        "state-written@2",  # inside the state write of the 2nd unfrozen epoch of that run
        "batch-done@3",  # early in an unfrozen epoch, its optimizer state restored from the file
    ],
}


def _resumed_after(terminal: str) -> int:
    """The epoch a training run said it resumed after, 0 for a clean start."""
    found = re.search(r"training: resuming from \S+, (\d+) of \d+ epochs done", terminal)
    if found:
        return int(found[1])
    assert "training: no saved state" in terminal, terminal[-2000:]
    return 0


@pytest.mark.slow
@pytest.mark.parametrize("model", ["A", "B"])
def test_train_killed_at_chosen_moments_then_rerun_equals_an_uninterrupted_run(tmp_path, tiny_data, model):
    """Each kill lands at a named moment of the training state's life (mid-epoch, mid-write, between the
    best model and its state, after the unfreezing's first state); each rerun resumes from the one complete
    state, and the final history and model equal an uninterrupted run's bit for bit."""
    ref = tmp_path / "ref"
    subprocess.run(_train_cmd(tiny_data, ref, model), env=ENV, check=True, capture_output=True, timeout=600)
    out = tmp_path / "run"
    resume = out / "_resume"
    cmd = _train_cmd(tiny_data, out, model)
    resumed_at = []  # the epoch each run says it resumed after (0: a clean start)
    for k, point in enumerate(KILLS[model]):
        log = tmp_path / f"run{k}.log"
        kill_at_pause(cmd, point, tmp_path / "paused", ENV, log=log)
        resumed_at.append(_resumed_after(log.read_text()))
        assert not (out / "model.keras").exists()
        assert list(resume.glob("state-*.npz")), point  # a complete state is always there to resume from
        if point.startswith("state-written"):
            assert [p for p in resume.iterdir() if p.name.startswith(".state-")], point  # the cut write
    final = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    resumed_at.append(_resumed_after(final.stderr))
    # every rerun went on from the state the run before it had saved, never from the start (a run killed
    # before it saved a state leaves the next one where it began itself)
    assert resumed_at[0] == 0 and min(resumed_at[1:]) > 0 and resumed_at == sorted(resumed_at), resumed_at
    got = pd.read_csv(out / "history.csv").drop(columns="epoch_time_s")
    want = pd.read_csv(ref / "history.csv").drop(columns="epoch_time_s")
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    if model == "A":
        assert want["lr"].nunique() > 1  # the scheduler acted, so its restored state mattered
    else:  # the resumed runs crossed the unfreezing with each epoch in its own phase
        assert want["phase"].tolist() == ["frozen"] * 3 + ["unfrozen"] * 5
    for a, b in zip(_weights(out / "model.keras"), _weights(ref / "model.keras"), strict=True):
        assert np.array_equal(a, b)
    assert (
        json.loads((out / "info.json").read_text())["best_epoch"]
        == json.loads((ref / "info.json").read_text())["best_epoch"]
    )
    assert not resume.exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
