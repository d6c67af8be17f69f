"""Real training runs on tiny synthetic data (32 px): phases, history, determinism, resume after a kill."""

import json
import os
import re
import subprocess

import keras
import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, full_config, kill_at_pause, train_cmd, train_tiny

from workflow_scripts import models  # noqa: F401 - registers the custom layers for loading
from workflow_scripts.settings import for_training
from workflow_scripts.train import HISTORY_COLUMNS

pytestmark = pytest.mark.slow


def _cfg(epochs, **model_b):
    return full_config(
        image_size=32,
        train={"epochs": epochs},
        model_a={"batch_size": 16},
        model_b={"batch_size": 16, "frozen_epochs": 1, **model_b},
    )


def test_model_a_one_epoch(tmp_path, tiny_data):
    out, info = train_tiny(tmp_path, tiny_data, "A", _cfg(1))
    hist = pd.read_csv(out / "history.csv")
    assert list(hist.columns) == HISTORY_COLUMNS
    assert hist["epoch"].tolist() == [1] and hist["phase"].tolist() == ["train"]
    assert np.isfinite(hist[["loss", "val_loss", "val_age_mae", "val_gender_accuracy"]].to_numpy()).all()
    assert hist["lr"].iloc[0] == pytest.approx(0.0013)
    assert info["epochs_run"] == 1 and info["best_epoch"] == 1
    assert (out / "model.keras").stat().st_size > 0
    assert not (out / "_resume").exists()
    assert json.loads((out / "info.json").read_text())["trainable_params"] == info["trainable_params"]


def test_age_output_starts_at_the_training_mean_age(tiny_data):
    import tensorflow as tf

    from workflow_scripts.train import _build

    cfg = _cfg(1)
    net = _build(for_training(cfg, "A"), tf.distribute.get_strategy(), 1, None, tiny_data["splits"]["train"])
    mean_age = pd.read_csv(tiny_data["splits"]["train"])["age"].mean()
    assert float(np.asarray(net.get_layer("age").bias)[0]) == pytest.approx(mean_age, rel=1e-6)


def test_model_b_two_phases(tmp_path, tiny_data, capfd):
    tb = tmp_path / "tb"
    out, info = train_tiny(tmp_path, tiny_data, "B", _cfg(2), name="B/x/seed_1", tensorboard=str(tb))
    hist = pd.read_csv(out / "history.csv")
    # a line per epoch on the terminal: phase, validation numbers as in the history, the time left
    lines = [ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("B/x/seed_1: epoch ")]
    assert [ln.split(", val")[0] for ln in lines] == [
        "B/x/seed_1: epoch 1/2 (frozen)",
        "B/x/seed_1: epoch 2/2 (unfrozen)",
    ]
    first = hist.iloc[0]
    assert (
        f"val age MAE {first['val_age_mae']:.2f}, gender {100 * first['val_gender_accuracy']:.1f}%"
        in lines[0]
    )
    assert re.search(r"s/epoch, ~\d+ (s|min \d\d s) left$", lines[0]) and lines[1].endswith(", done")
    # TensorBoard's event files, one folder per fit() (Keras' callback: train/ and validation/)
    assert {p.parent.name for p in tb.rglob("events.out.tfevents.*")} == {"train", "validation"}
    assert hist["epoch"].tolist() == [1, 2]
    assert hist["phase"].tolist() == ["frozen", "unfrozen"]
    assert hist["lr"].tolist() == pytest.approx([0.001, 0.00002])
    assert hist["trainable_params"].iloc[1] - hist["trainable_params"].iloc[0] == 12_979_200
    assert info["trainable_params"] == hist["trainable_params"].iloc[0]


def test_same_seed_same_history_and_model(tmp_path, tiny_data):
    runs = [train_tiny(tmp_path / str(k), tiny_data, "A", _cfg(2)) for k in range(2)]
    h = [pd.read_csv(out / "history.csv").drop(columns="epoch_time_s") for out, _ in runs]
    pd.testing.assert_frame_equal(h[0], h[1], check_exact=True)
    weights = [keras.models.load_model(out / "model.keras").get_weights() for out, _ in runs]
    for a, b in zip(*weights, strict=True):
        assert np.array_equal(a, b)  # the models too, bit for bit, not only their histories
    other = train_tiny(tmp_path / "s2", tiny_data, "A", _cfg(2), seed=2)
    assert not pd.read_csv(other[0] / "history.csv")["loss"].equals(h[0]["loss"])


def _train_cmd(out, tiny, epochs):
    return train_cmd(out, tiny, _cfg(epochs), seed=3)


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _finish(cmd, out, epochs):
    second = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    hist = pd.read_csv(out / "history.csv")
    assert hist["epoch"].tolist() == list(range(1, epochs + 1))  # each epoch once
    info = json.loads((out / "info.json").read_text())
    assert info["epochs_run"] == epochs
    assert hist.loc[hist["val_loss"].idxmin(), "epoch"] == info["best_epoch"]
    started = [int(n) for n in re.findall(rf"^Epoch (\d+)/{epochs}$", second.stdout, flags=re.M)]
    return second.stderr, started


def test_resume_after_a_kill_continues_logs_each_epoch_once_and_says_so(tmp_path, tiny_data):
    out = tmp_path / "A"
    cmd = _train_cmd(out, tiny_data, 6)
    kill_at_pause(cmd, "epoch-saved@2", tmp_path / "paused", ENV)  # killed right after epoch 2's state
    terminal, started = _finish(cmd, out, 6)
    assert f"training: resuming from {out / '_resume'}/state-00002.npz, 2 of 6 epochs done" in terminal
    assert started == [3, 4, 5, 6]  # the second run started where the first stopped, not at epoch 1


def test_an_unreadable_newest_state_falls_back_to_the_one_before_and_says_why(tmp_path, tiny_data):
    out = tmp_path / "A"
    cmd = _train_cmd(out, tiny_data, 5)
    kill_at_pause(cmd, "state-renamed@3", tmp_path / "paused", ENV)
    newest = out / "_resume" / "state-00003.npz"
    newest.write_bytes(newest.read_bytes()[:1000])  # a disk that lost the end of the file
    terminal, started = _finish(cmd, out, 5)
    assert "training state passed over: state-00003.npz" in terminal
    assert "resuming from" in terminal and "state-00002.npz, 2 of 5 epochs done" in terminal
    assert started == [3, 4, 5]


def test_a_state_of_another_configuration_is_not_resumed(tmp_path, tiny_data):
    out = tmp_path / "A"
    kill_at_pause(_train_cmd(out, tiny_data, 5), "epoch-saved@2", tmp_path / "paused", ENV)
    cfg = _cfg(5)
    cfg["model_a"]["learning_rate"] = 0.002  # the rule's params changed: Snakemake reruns the job
    terminal, started = _finish(train_cmd(out, tiny_data, cfg, seed=3), out, 5)
    assert "written by a run of another model, seed or configuration" in terminal
    assert "training: no saved state" in terminal and started == [1, 2, 3, 4, 5]


def test_streaming_from_the_memory_maps_trains_the_same_model(tmp_path, tiny_data):
    """Arrays too large for memory are read batch by batch from disk: the same batches in the same order,
    so the history is the one of the in-memory run, bit for bit."""
    from workflow_scripts.datasets import gather_sorted, make_datasets

    assert make_datasets(tiny_data["arrays"], tiny_data["splits"], 16, 1, memory_share=0.0).streamed
    assert not make_datasets(tiny_data["arrays"], tiny_data["splits"], 16, 1).streamed
    images = np.load(tiny_data["arrays"]["val"], mmap_mode="r")
    idx = np.array([7, 2, 9, 2, 0])
    assert np.array_equal(gather_sorted(images, idx), np.asarray(images)[idx])
    runs = {}
    for share in (0.5, 0.0):  # 0: always stream
        cfg = _cfg(2)
        cfg["train"]["memory_share"] = share
        out, _ = train_tiny(tmp_path / str(share), tiny_data, "A", cfg)
        runs[share] = pd.read_csv(out / "history.csv").drop(columns="epoch_time_s")
    pd.testing.assert_frame_equal(runs[0.5], runs[0.0], check_exact=True)


@pytest.fixture(scope="module")
def study_sized(tmp_path_factory):
    """96 random images at the study's 128 px: big enough that oneDNN splits its kernels over threads."""
    root = tmp_path_factory.mktemp("px128")
    rng = np.random.default_rng(11)
    out = {"arrays": {}, "splits": {}}
    for split, n in (("train", 96), ("val", 32)):
        np.save(root / f"{split}.npy", rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8))
        pd.DataFrame({"path": [f"{split}{i}.jpg" for i in range(n)], "age": rng.integers(1, 90, n),
                      "gender": rng.integers(0, 2, n), "race": 0, "datetime": "0"}).to_csv(
            root / f"{split}.csv", index=False)  # fmt: skip
        out["arrays"][split], out["splits"][split] = str(root / f"{split}.npy"), str(root / f"{split}.csv")
    return out


def test_two_processes_on_two_threads_train_the_same_model_at_128_px(tmp_path, study_sized):
    """Bit for bit from one process to the next with several threads, at the study's image size (at 32 px
    the kernels run on one thread, so the other tests could not see two ops at once change the sums)."""
    cfg = full_config(train={"epochs": 2}, model_a={"batch_size": 32})
    runs = []
    for k in range(3):
        out = tmp_path / str(k)
        cmd = train_cmd(out, study_sized, cfg, seed=4)
        subprocess.run(cmd, env=ENV, check=True, capture_output=True, timeout=600)
        runs.append(keras.models.load_model(out / "model.keras").get_weights())
    for other in runs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(runs[0], other, strict=True))


def test_constant_rate_and_adam_after_unfreezing_are_config_variants(tmp_path, tiny_data):
    """The claims' training variants: no ReduceLROnPlateau (patience 1 would cut the rate every plateau),
    and Adam instead of AdamW after B's unfreezing."""
    cfg = _cfg(4, lr_schedule="constant", unfrozen_optimizer="adam", lr_patience=1)
    cfg["model_a"].update(lr_schedule="constant", lr_patience=1)
    out, _ = train_tiny(tmp_path / "A", tiny_data, "A", cfg)
    assert pd.read_csv(out / "history.csv")["lr"].nunique() == 1
    from workflow_scripts.train import epoch_plan

    assert [p["optimizer"] for p in epoch_plan(for_training(cfg, "B"))] == ["rmsprop", "adam"]
    out, info = train_tiny(tmp_path / "B", tiny_data, "B", cfg)
    assert [p["optimizer"] for p in info["phases"]] == ["rmsprop", "adam"]
    assert pd.read_csv(out / "history.csv")["lr"].tolist() == pytest.approx([0.001] + [0.00002] * 3)


def test_bfloat16_training_is_reproducible_and_saves_a_float32_model(tmp_path, tiny_data):
    """train.precision: bfloat16 computes in bfloat16 (float32 weights); the saved model computes in float32,
    with the trained weights exactly, so that evaluation and every export read a plain model."""
    cfg = _cfg(2)
    cfg["train"]["precision"] = "bfloat16"
    runs = [train_tiny(tmp_path / str(k), tiny_data, "A", cfg) for k in range(2)]
    assert runs[0][1]["precision"] == "mixed_bfloat16"
    h = [pd.read_csv(out / "history.csv").drop(columns="epoch_time_s") for out, _ in runs]
    pd.testing.assert_frame_equal(h[0], h[1], check_exact=True)
    assert np.isfinite(h[0]["val_loss"]).all()
    # loaded where the global policy is still bfloat16: the file itself says float32, for every layer (the
    # model object's own policy is not saved, and computes nothing)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = keras.models.load_model(runs[0][0] / "model.keras")
    finally:
        keras.mixed_precision.set_global_policy("float32")

    def layers(m):  # the layers that compute (not a nested model's own policy, nor an InputLayer's)
        for layer in m.layers:
            if not isinstance(layer, keras.layers.InputLayer):
                yield from layers(layer) if hasattr(layer, "layers") else (layer,)

    assert {layer.dtype_policy.name for layer in layers(model)} == {"float32"}
    # and it predicts as a float32 build of Model A holding its weights does, exactly
    run = for_training(cfg, "A")
    rebuilt = models.build_model_a(32, run.model, run.augmentation, 1)
    rebuilt.set_weights(model.get_weights())
    x = np.load(tiny_data["arrays"]["val"])[:16].astype(np.float32) + 0.37  # not exact in bfloat16
    got, want = model.predict_on_batch(x), rebuilt.predict_on_batch(x)
    assert all(np.array_equal(got[k], want[k]) for k in ("age", "gender"))
    float32_run = train_tiny(tmp_path / "f32", tiny_data, "A", _cfg(2))
    assert float32_run[1]["precision"] == "float32"
    # the same seed in float32 trains other weights: the bfloat16 arithmetic really ran
    other = keras.models.load_model(float32_run[0] / "model.keras").get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other, strict=True))
