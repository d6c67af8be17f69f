import json

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.evaluate import bin_labels, compute_metrics, main

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
