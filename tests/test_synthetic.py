import hashlib

import numpy as np

from workflow_scripts import synthetic
from workflow_scripts.labels import build_labels


def _digest(folder):
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_deterministic_and_independent_of_worker_count(tmp_path):
    synthetic.generate(tmp_path / "a", 40, seed=11, workers=1)
    synthetic.generate(tmp_path / "b", 40, seed=11, workers=2)
    synthetic.generate(tmp_path / "c", 40, seed=12, workers=1)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_archive_is_reproducible(tmp_path, synth_dir):
    synthetic.pack(synth_dir, tmp_path / "1.tar.gz")
    synthetic.pack(synth_dir, tmp_path / "2.tar.gz")
    assert (tmp_path / "1.tar.gz").read_bytes() == (tmp_path / "2.tar.gz").read_bytes()


def test_names_look_like_utkface_and_quirks_can_be_turned_off(tmp_path):
    names = synthetic.generate(tmp_path, 30, seed=1, quirks=False)
    assert len(names) == 30
    labels, rejected = build_labels(tmp_path)
    assert len(labels) == 30 and rejected.empty
    assert labels["datetime"].str.len().eq(17).all()


def test_drawn_features_encode_age_and_gender():
    """Crude pixel statistics already separate the classes: a CNN has real cues to learn."""

    def mean_face(age, gender, k=12):
        return np.mean(
            [
                np.asarray(synthetic.draw_face(age, gender, 0, np.random.default_rng(i)), float)
                for i in range(k)
            ],
            axis=0,
        )

    young_f, old_f, young_m = mean_face(25, 1), mean_face(80, 1), mean_face(25, 0)
    # long hair beside the face (columns 15-40) is darker than the background for women
    assert young_f[60:180, 15:40].mean() < young_m[60:180, 15:40].mean() - 20
    # grey hair: the hair region brightens with age
    assert old_f[20:45, 60:140].mean() > young_f[20:45, 60:140].mean() + 40
