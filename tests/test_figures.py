"""Learning-curve figures from a hand-made history: panels, series and epoch counts."""

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.figures import PANELS, confusion, faces, learning_curves, save


def _history(n=6, unfreeze_at=None):
    epochs = np.arange(1, n + 1)
    rows = {"epoch": epochs, "phase": ["train"] * n, "lr": 0.001}
    if unfreeze_at:
        rows["phase"] = ["frozen" if e < unfreeze_at else "unfrozen" for e in epochs]
    for col in ("loss", "age_loss", "gender_loss", "age_mae", "gender_accuracy"):
        rows[col] = np.linspace(1, 0.5, n)
        rows[f"val_{col}"] = np.linspace(1.1, 0.6, n)
    rows["val_loss"] = [5, 4, 3, 2.5, 2.7, 2.9][:n]  # best epoch: 4
    return pd.DataFrame(rows)


def test_four_panels_with_train_val_and_best_epoch():
    fig = learning_curves(_history(), "A")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [p[0] for p in PANELS]
    for ax, (_, col, _) in zip(axes, PANELS, strict=True):
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        assert list(lines["training"].get_xdata()) == [1, 2, 3, 4, 5, 6]
        assert list(lines["validation"].get_ydata()) == pytest.approx(list(_history()[f"val_{col}"]))
        assert list(lines["best epoch (4, kept)"].get_xdata()) == [4, 4]
        assert not any("unfrozen" in name for name in lines)


def test_model_b_marks_the_unfreezing():
    fig = learning_curves(_history(unfreeze_at=3), "B")
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert "base unfrozen (epoch 3)" in labels


def test_png_and_svg_are_written(tmp_path):
    save(learning_curves(_history(), "A"), tmp_path / "c.png", tmp_path / "c.svg")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "c.svg").read_bytes()[:500]


def test_confusion_and_faces_show_the_right_numbers():
    metrics = {
        "A": {
            "confusion": {"matrix": [[5, 1], [2, 7]], "labels": ["male", "female"]},
            "gender_accuracy": 12 / 15,
        }
    }
    texts = [t.get_text() for t in confusion(metrics).axes[0].texts]
    assert texts == ["5", "1", "2", "7"]
    pred = pd.DataFrame(
        {
            "path": list("abcd"),
            "age": [10, 20, 30, 40],
            "gender": [0, 1, 0, 1],
            "pred_age": [10, 25, 60, 40],
            "gender_prob": [0.1, 0.9, 0.9, 0.8],
        }
    )
    fig = faces(np.zeros((4, 8, 8, 3), np.uint8), pred, "A", n=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "true 10 M\npred 10 M"  # exact
    assert titles[2] == "true 30 M\npred 60 F"  # worst: 30 years off and the wrong gender
