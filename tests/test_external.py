"""Other test sets (`evaluate.external`): a folder of images with a labels.csv, and a synthetic set drawn
through another camera, evaluated through the real snakemake with the same metrics and intervals."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import snakemake
from PIL import Image

from workflow_scripts import synthetic
from workflow_scripts.labels import labels_from_table


def _table_folder(root, n=40):
    """Synthetic faces under plain names, their labels in labels.csv (plus rows that must be rejected)."""
    src = root / "src"
    names = synthetic.generate(src, n, seed=21, quirks=False)
    folder = root / "mine"
    folder.mkdir()
    rows = []
    for i, name in enumerate(sorted(names)):
        age, gender, race = name.split("_")[:3]
        shutil.copy(src / name, folder / f"photo_{i:03d}.jpg")
        rows.append({"file": f"photo_{i:03d}.jpg", "age": age, "gender": ["male", "female"][int(gender)],
                     "race": race if i % 2 else ""})  # fmt: skip
    rows += [
        {"file": "missing.jpg", "age": "30", "gender": "0", "race": ""},
        {"file": "photo_000.jpg", "age": "３０", "gender": "0", "race": ""},
        {"file": "photo_001.jpg", "age": "30", "gender": "x", "race": ""},
    ]
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    return folder


def test_labels_from_a_table_check_every_row(tmp_path):
    folder = _table_folder(tmp_path, 12)
    labels, rejected = labels_from_table(folder)
    assert len(labels) == 12 and set(labels["gender"]) <= {0, 1}
    assert (labels["race"] == -1).sum() == 6  # a blank race is unknown, not White
    reasons = dict(zip(rejected["path"], rejected["reason"], strict=True))
    assert reasons["missing.jpg"].startswith("unreadable file")
    assert "not a whole number" in reasons["photo_000.jpg"]
    assert "0/1 or male/female" in reasons["photo_001.jpg"]


def test_another_camera_changes_every_image_deterministically():
    rng = lambda: np.random.default_rng([1, 2])  # noqa: E731
    face = synthetic.draw_face(40, 1, 2, rng())
    assert synthetic.camera(face, 0) is face
    shifted = np.asarray(synthetic.camera(face, 3), float)
    again = synthetic.camera(synthetic.draw_face(40, 1, 2, rng()), 3)
    assert np.array_equal(shifted, np.asarray(again, float))
    assert np.abs(shifted - np.asarray(face, float)).mean() > 10
    assert not np.array_equal(shifted, np.asarray(synthetic.camera(face, 4)))


@pytest.mark.slow
def test_external_sets_are_evaluated_through_snakemake_with_intervals(tmp_path):
    folder = _table_folder(tmp_path)
    cfg = {
        "synthetic": {"enabled": True, "n_images": 240},
        "image_size": 32,
        "split": {"train_val_size": 160},
        "train": {"epochs": 1},
        "model_a": {"batch_size": 16},
        "dataset": {"md5": None},
        "evaluate": {
            "bootstrap": 200,
            "external": [
                {"name": "mine", "path": str(folder)},
                {"name": "shifted", "synthetic_style": 3, "n_images": 60},
            ],
        },
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    targets = [f"results/eval/A/study/seed_42/external_{n}/metrics.json" for n in ("mine", "shifted")]
    args = ("-c2", "--resources", "gpu=1", "--configfile", str(tmp_path / "c.yaml"))
    snakemake(tmp_path, *args, "--", *targets)
    mine, shifted = (json.loads((tmp_path / t).read_text()) for t in targets)
    assert (mine["split"], mine["model"], mine["n"]) == ("external_mine", "A", 40)
    assert shifted["n"] == 60
    for m in (mine, shifted):
        lo, hi = m["ci"]["age_mae"]
        assert lo <= m["age_mae"] <= hi and m["ci"]["resamples"] == 200
        assert 0 <= m["calibration"]["ece"] <= 1
    rejected = pd.read_csv(tmp_path / "results/external/mine/labels_rejected.csv")
    assert len(rejected) == 3
    # the shifted set really looks different from the training data
    train = np.load(tmp_path / "results/data/arrays/train_images.npy").astype(float)
    other = np.load(tmp_path / "results/external/shifted/images.npy").astype(float)
    assert abs(train.mean(axis=(0, 1, 2)) - other.mean(axis=(0, 1, 2))).max() > 10
    first = sorted((tmp_path / "results/external/shifted/images").glob("*.jpg"))[0]
    assert Image.open(first).size == (200, 200)
