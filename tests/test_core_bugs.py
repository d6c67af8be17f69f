"""One test per one-line bug that the suite once let through (issue 13): each fails on that bug."""

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from workflow_scripts.comparison import comparison
from workflow_scripts.decode import load_image
from workflow_scripts.evaluate import compute_metrics
from workflow_scripts.labels import RACES, build_labels
from workflow_scripts.report import reading


def test_dedup_keeps_the_first_copy_by_path_and_names_it(tmp_path, synth_dir):
    src = sorted(synth_dir.glob("*_*_*_*.jpg.chip.jpg"))[0]
    first, second = "25_0_0_20170101000000001.jpg.chip.jpg", "25_0_0_20170101000000002.jpg.chip.jpg"
    shutil.copy(src, tmp_path / second)
    shutil.copy(src, tmp_path / first)
    labels, rejected = build_labels(tmp_path)
    assert labels["path"].tolist() == [first]
    assert rejected.set_index("path")["reason"].to_dict() == {second: f"byte-identical duplicate of {first}"}


def test_interpolation_key_changes_the_pixels_as_pillow_does(tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    near = load_image(tmp_path / "a.png", 64, "nearest")
    bil = load_image(tmp_path / "a.png", 64, "bilinear")
    ref = np.asarray(Image.open(tmp_path / "a.png").resize((64, 64), Image.Resampling.NEAREST))
    assert np.array_equal(near, ref) and not np.array_equal(near, bil)


def test_confusion_matrix_rows_are_true_labels_and_bins_are_left_closed():
    pred = pd.DataFrame(
        {
            "age": [10, 29, 30, 9, 50],  # 10 and 30 sit on bin edges
            "gender": [0, 0, 0, 1, 1],
            "race": [0, 0, 0, 0, 0],
            "pred_age": [11.0, 29.0, 33.0, 9.0, 50.0],
            "gender_prob": [0.9, 0.8, 0.1, 0.7, 0.6],  # true male predicted female twice; females right
        }
    )
    m = compute_metrics(pred, pd.DataFrame({"age": [30], "gender": [0]}), [0, 10, 30, 117])
    assert m["confusion"]["matrix"] == [[1, 2], [0, 2]]  # [true male: pred m, pred f], [true female: ...]
    assert m["by_age_bin"]["0-9"]["n"] == 1 and m["by_age_bin"]["10-29"]["n"] == 2
    assert m["by_age_bin"]["30-116"] == {"n": 2, "age_mae": 1.5, "gender_accuracy": 1.0}


def test_predictions_are_scored_raw_not_clipped_to_the_age_range():
    pred = pd.DataFrame(
        {"age": [2, 100], "gender": [0, 1], "race": [0, 0], "pred_age": [-4.0, 130.0], "gender_prob": [0, 1]}
    )
    m = compute_metrics(pred, pd.DataFrame({"age": [50], "gender": [0]}), [0, 117])
    assert m["age_mae"] == pytest.approx((6 + 30) / 2)


def _run(model, val, test):
    base_val = {"mean_age": 33.0, "age_mae": 15.0, "majority_gender": "male", "gender_accuracy": 0.52}
    base_test = {"mean_age": 33.0, "age_mae": 16.0, "majority_gender": "male", "gender_accuracy": 0.51}
    info = {"trainable_params": 10, "epochs_run": 3, "best_epoch": 2, "train_time_s": 1.0}
    return {
        "model": model,
        "seed": 1,
        "info": info,
        "val": {"gender_accuracy": val[0], "age_mae": val[1], "baselines": base_val},
        "test": {"gender_accuracy": test[0], "age_mae": test[1], "baselines": base_test},
    }


def test_baseline_row_takes_each_split_from_its_own_metrics_and_test_winner_is_the_lower_mae():
    # B wins on validation MAE, A on test MAE: a reading that used max, or val for test, would say B
    t = comparison([_run("A", (0.9, 7.0), (0.8, 6.0)), _run("B", (0.95, 6.5), (0.85, 8.0))], {})
    base = t.set_index("model").loc["baseline"]
    assert (base["val_age_mae"], base["test_age_mae"]) == (15.0, 16.0)
    assert (base["val_gender_accuracy"], base["test_gender_accuracy"]) == (0.52, 0.51)
    text = " ".join(reading(t, {}))
    assert "Best test age MAE: Model A" in text and "Best validation age MAE: Model B" in text
    assert "Best test gender accuracy: Model B" in text


def test_whole_metrics_of_a_hand_made_split():
    pred = pd.DataFrame(
        {
            "age": [20, 40, 60, 10],
            "gender": [0, 0, 0, 0],  # no woman in this split: the matrix keeps its female row, as zeros
            "race": [0, 2, 2, 4],
            "pred_age": [22.0, 37.0, 60.0, 14.0],
            "gender_prob": [0.2, 0.5, 0.49, 0.7],  # 0.5 is read as female (threshold inclusive)
        }
    )
    train = pd.DataFrame({"age": [10, 20, 30, 40], "gender": [1, 0, 1, 0]})  # a tie: the lower code wins
    m = compute_metrics(pred, train, [0, 30, 117])
    assert m == {
        "n": 4,
        "gender_accuracy": 0.5,
        "age_mae": 2.25,
        "age_rmse": pytest.approx((29 / 4) ** 0.5),
        "age_bias": 0.75,
        "by_age_bin": {
            "0-29": {"n": 2, "age_mae": 3.0, "gender_accuracy": 0.5},
            "30-116": {"n": 2, "age_mae": 1.5, "gender_accuracy": 0.5},
        },
        "by_gender": {"male": {"n": 4, "age_mae": 2.25, "gender_accuracy": 0.5}},
        "by_race": {
            "White": {"n": 1, "age_mae": 2.0, "gender_accuracy": 1.0},
            "Asian": {"n": 2, "age_mae": 1.5, "gender_accuracy": 0.5},
            "Others": {"n": 1, "age_mae": 4.0, "gender_accuracy": 0.0},
        },
        "confusion": {
            "labels": ["male", "female"],
            "rows": "true",
            "columns": "predicted",
            "matrix": [[2, 2], [0, 0]],
        },  # fmt: skip
        "baselines": {"mean_age": 25.0, "age_mae": 17.5, "majority_gender": "male", "gender_accuracy": 1.0},
    }


def test_intervals_are_computed_from_this_split_with_the_given_settings():
    from workflow_scripts import uncertainty

    rng = np.random.default_rng(5)
    n = 300
    pred = pd.DataFrame(
        {
            "age": rng.integers(1, 90, n),
            "gender": rng.integers(0, 2, n),
            "race": rng.integers(0, 5, n),
            "pred_age": rng.normal(40, 10, n),
            "gender_prob": rng.random(n),
        }
    )
    m = compute_metrics(pred, pred, [0, 30, 117], n_boot=300, seed=7, confidence=0.9)
    assert (m["ci"]["confidence"], m["ci"]["resamples"], m["ci"]["seed"]) == (0.9, 300, 7)
    abs_err = (pred["pred_age"] - pred["age"]).abs().to_numpy()
    # the MAE interval is the bootstrap of this split's absolute errors with this seed and level
    lo, hi = m["ci"]["age_mae"]
    assert lo < abs_err.mean() < hi
    rmse = float(np.sqrt((abs_err**2).mean()))
    assert m["ci"]["age_rmse"][0] < rmse < m["ci"]["age_rmse"][1] < rmse + 2
    again = compute_metrics(pred, pred, [0, 30, 117], n_boot=300, seed=7, confidence=0.9)
    other = compute_metrics(pred, pred, [0, 30, 117], n_boot=300, seed=8, confidence=0.9)
    wider = compute_metrics(pred, pred, [0, 30, 117], n_boot=300, seed=7, confidence=0.99)
    assert again["ci"] == m["ci"] and other["ci"]["age_mae"] != m["ci"]["age_mae"]
    assert wider["ci"]["age_mae"][0] < lo and wider["ci"]["age_mae"][1] > hi
    assert set(m["ci"]["by_age_bin"]) == {"0-29", "30-116"} and set(m["ci"]["by_race"]) == set(RACES)
    assert m["calibration"] == uncertainty.expected_calibration_error(pred["gender_prob"], pred["gender"])
    assert set(m["gaps"]) == {"by_race_age_mae", "by_race_gender_accuracy", "by_gender_age_mae",
                              "by_gender_gender_accuracy"}  # fmt: skip
    assert "ci" not in compute_metrics(pred, pred, [0, 30, 117])
