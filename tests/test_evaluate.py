import json

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.evaluate import bin_labels, compute_metrics, main
from workflow_scripts.labeltable import RACES

BINS = [0, 10, 30, 117]


def _pred():
    # ages 5, 20, 40, 60; genders m f f m; races 0 1 0 2
    return pd.DataFrame(
        {
            "age": [5, 20, 40, 60],
            "gender": [0, 1, 1, 0],
            "race": [0, 1, 0, 2],
            "pred_age": [7.0, 20.0, 30.0, 66.0],
            "gender_prob": [0.2, 0.9, 0.4, 0.5],
        }
    )


def test_metrics_match_hand_computed_values():
    train = pd.DataFrame({"age": [10, 20, 30, 40], "gender": [1, 1, 0, 1]})
    m = compute_metrics(_pred(), train, BINS)
    # errors 2, 0, 10, 6; predicted genders 0 1 0 1 (0.5 counts as female): correct T T F F
    assert m["n"] == 4
    assert m["age_mae"] == pytest.approx(4.5)
    assert m["age_rmse"] == pytest.approx(np.sqrt((4 + 0 + 100 + 36) / 4))
    assert m["age_bias"] == pytest.approx((2 + 0 - 10 + 6) / 4)
    assert m["gender_accuracy"] == pytest.approx(0.5)
    assert m["by_age_bin"] == {
        "0-9": {"n": 1, "age_mae": 2.0, "gender_accuracy": 1.0},
        "10-29": {"n": 1, "age_mae": 0.0, "gender_accuracy": 1.0},
        "30-116": {"n": 2, "age_mae": 8.0, "gender_accuracy": 0.0},
    }
    assert m["by_gender"]["male"] == {"n": 2, "age_mae": 4.0, "gender_accuracy": 0.5}
    assert m["by_race"]["White"] == {"n": 2, "age_mae": 6.0, "gender_accuracy": 0.5}
    assert "Indian" not in m["by_race"]  # no row: no entry rather than a NaN
    assert m["confusion"]["matrix"] == [[1, 1], [1, 1]]
    assert m["baselines"] == {
        "mean_age": 25.0,
        "age_mae": pytest.approx((20 + 5 + 15 + 35) / 4),
        "majority_gender": "female",
        "gender_accuracy": 0.5,
    }


def test_bin_labels():
    assert bin_labels([0, 3, 10, 117]) == ["0-2", "3-9", "10-116"]


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


@pytest.mark.slow
def test_cli_on_a_trained_model(tmp_path, tiny_data):
    from helpers import full_config, train_tiny

    cfg = full_config(image_size=32, train={"epochs": 1}, model_a={"batch_size": 16})
    out, _ = train_tiny(tmp_path, tiny_data, "A", cfg)
    main(
        [
            "--model",
            str(out / "model.keras"),
            "--images",
            tiny_data["arrays"]["test"],
            "--split",
            tiny_data["splits"]["test"],
            "--train-split",
            tiny_data["splits"]["train"],
            "--age-bins",
            "0,3,10,20,30,40,50,60,70,80,117",
            "--batch-size",
            "7",
            "--predictions",
            str(tmp_path / "p.csv"),
            "--metrics",
            str(tmp_path / "m.json"),
        ]
    )
    pred = pd.read_csv(tmp_path / "p.csv")
    test = pd.read_csv(tiny_data["splits"]["test"])
    assert pred["path"].tolist() == test["path"].tolist()  # batch size 7 does not divide: all rows kept
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n"] == len(test)
    assert metrics["age_mae"] == pytest.approx((pred["pred_age"] - pred["age"]).abs().mean(), rel=1e-5)
    assert ((pred["gender_prob"] >= 0) & (pred["gender_prob"] <= 1)).all()
