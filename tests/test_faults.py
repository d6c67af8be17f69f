"""Faults in the middle of the work: a full disk, and kills of `labels` (which decodes the images) and
`train` at seeded random moments. A rerun must end with outputs equal to an uninterrupted run, and no
temporary file may be left."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, full_config, train_cmd

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


def _kill_at(cmd, delay, **kw):
    """Start `cmd` in its own process group and SIGKILL the whole group after `delay` seconds (workers
    too, as an OOM killer or a pre-empted job would). Returns True if it was still running."""
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen(cmd, start_new_session=True, **quiet, **kw)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


@pytest.mark.cli
def test_labels_killed_at_random_moments_then_rerun_equals_an_uninterrupted_run(faces, tmp_path):
    reference = tmp_path / "ref" / "x.npy"
    build_labels(faces / "img", threads=2, pixels=Pixels(reference, 96))
    out = tmp_path / "run" / "x.npy"
    out.parent.mkdir()
    t0 = time.perf_counter()
    subprocess.run(_labels_cmd(faces, tmp_path / "timing.npy"), env=ENV, check=True, timeout=300)
    whole = time.perf_counter() - t0
    os.remove(tmp_path / "timing.npy")
    rng = np.random.default_rng(2026)
    killed = 0
    for delay in sorted(rng.uniform(0.1, 0.95, size=4) * whole):
        killed += _kill_at(_labels_cmd(faces, out), delay, env=ENV)
        assert not out.exists()  # never a half-written array where the output goes
    assert killed >= 3, "the kills came too late to interrupt anything"
    assert _tmp_files(out.parent)  # the kills did leave temporary files behind...
    subprocess.run(_labels_cmd(faces, out), env=ENV, check=True, timeout=300)
    assert _tmp_files(out.parent) == []  # ...and the rerun removed them
    assert np.array_equal(np.load(out), np.load(reference))


def _train_cmd(tiny, out, model="A", epochs=8):
    cfg = full_config(
        image_size=32,
        train={"epochs": epochs},
        model_a={"batch_size": 16, "lr_patience": 1},
        model_b={"batch_size": 16, "lr_patience": 1, "frozen_epochs": 3, "weights": "none"},
    )
    return train_cmd(out, tiny, cfg, model, seed=5)


def _kill_after_epochs(cmd, jsonl, epochs, extra_s, limit_s=300):
    """Start `cmd`, wait (bounded) until `jsonl` holds `epochs` lines, then `extra_s` more, then SIGKILL the
    process group. Returns True if the process was still running when killed."""
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen(cmd, start_new_session=True, env=ENV, **quiet)
    deadline = time.monotonic() + limit_s
    while proc.poll() is None and time.monotonic() < deadline:
        if jsonl.exists() and len(jsonl.read_text().splitlines()) >= epochs:
            break
        time.sleep(0.05)
    time.sleep(extra_s)
    alive = proc.poll() is None
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return alive


def _resume_state(resume: Path) -> dict:
    """What a killed training run left: its history lines (epoch, phase, lr), backups and phase markers."""
    jsonl = resume / "history.jsonl"
    lines = jsonl.read_text().splitlines() if jsonl.exists() else []
    return {
        "rows": [line[:60] for line in lines],
        "backups": {p.parent.name: p.read_text() for p in sorted(resume.glob("backup_*/*.json"))},
        "markers": sorted(p.name for p in resume.glob("done_*")),
    }


def _weights(path):
    from workflow_scripts.tfsetup import configure_tensorflow

    configure_tensorflow()
    import keras

    from workflow_scripts import models  # noqa: F401 - registers the custom layers

    return [np.asarray(w) for w in keras.models.load_model(path).get_weights()]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["A", "B"])
def test_train_killed_at_random_moments_then_rerun_equals_an_uninterrupted_run(tmp_path, tiny_data, model):
    """Resumed training draws the same data order, augmentation and dropout as an uninterrupted run (each
    a function of seed and epoch) and restores the learning-rate scheduler (patience 1 makes it act), so
    the history and the model are bit for bit those of an uninterrupted run. For B the first kill falls in
    the frozen phase and the second in the unfrozen one."""
    ref = tmp_path / "ref"
    cmd = _train_cmd(tiny_data, ref, model)
    subprocess.run(cmd, env=ENV, check=True, capture_output=True, timeout=600)
    epoch_s = pd.read_csv(ref / "history.csv")["epoch_time_s"].median()
    out = tmp_path / "run"
    rng = np.random.default_rng(7)
    # each kill lands at a seeded random moment within the epoch after the given one was logged
    left = []
    for logged, extra in zip((2, 5), rng.uniform(0, 0.5, size=2) * epoch_s, strict=True):
        jsonl = out / "_resume/history.jsonl"
        assert _kill_after_epochs(_train_cmd(tiny_data, out, model), jsonl, logged, extra)
        assert not (out / "model.keras").exists()
        left.append(_resume_state(out / "_resume"))
    subprocess.run(_train_cmd(tiny_data, out, model), env=ENV, check=True, capture_output=True, timeout=600)
    got = pd.read_csv(out / "history.csv").drop(columns="epoch_time_s")
    want = pd.read_csv(ref / "history.csv").drop(columns="epoch_time_s")
    if not got.equals(want):  # the kills land by the clock: say where each left the run
        pytest.fail(f"resumed history differs:\n{got.compare(want)}\nwhat each kill left: {left}")
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    if model == "A":
        assert want["lr"].nunique() > 1  # the scheduler acted, so its replayed state mattered
    else:  # the resumed run crossed the unfreezing with each epoch in its own phase
        assert want["phase"].tolist() == ["frozen"] * 3 + ["unfrozen"] * 5
    for a, b in zip(_weights(out / "model.keras"), _weights(ref / "model.keras"), strict=True):
        assert np.array_equal(a, b)
    assert not (out / "_resume").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
