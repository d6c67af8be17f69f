"""The callbacks: the progress line a training prints per epoch, the TensorBoard replay of a resumed run."""

import pytest


def test_the_progress_line_says_the_phase_and_prices_the_epochs_left_at_the_phase_s_pace():
    from workflow_scripts.callbacks import progress_line

    rows = [
        {"epoch": 1, "phase": "frozen", "epoch_time_s": 10.0, "val_age_mae": 9.0, "val_gender_accuracy": 0.6},
        {
            "epoch": 2,
            "phase": "unfrozen",
            "epoch_time_s": 100.0,
            "val_age_mae": 8.456,
            "val_gender_accuracy": 0.7512,
        },
    ]
    line = progress_line("B/study/seed_7", 50, rows)
    # 48 epochs at the unfrozen phase's 100 s: 4800 s (the frozen epoch's 10 s does not count)
    assert line == (
        "B/study/seed_7: epoch 2/50 (unfrozen), val age MAE 8.46, gender 75.1%,"
        " 100.0 s/epoch, ~1 h 20 min left"
    )
    a = [{"epoch": 3, "phase": "train", "epoch_time_s": 61.0, "val_age_mae": 7.0, "val_gender_accuracy": 0.9}]
    assert progress_line("A", 4, a).endswith(
        "epoch 3/4, val age MAE 7.00, gender 90.0%, 61.0 s/epoch, ~1 min 01 s left"
    )


def test_a_resumed_run_writes_its_earlier_epochs_into_tensorboard_again(tmp_path):
    import tensorflow as tf

    from workflow_scripts.callbacks import HISTORY_METRICS, replay_tensorboard

    rows = [
        {
            "epoch": e,
            "lr": 0.001,
            **{m: float(e) for m in HISTORY_METRICS},
            **{f"val_{m}": -e for m in HISTORY_METRICS},
        }
        for e in (1, 2)
    ]
    replay_tensorboard(str(tmp_path), rows)
    seen = {}
    for part in ("train", "validation"):
        for f in (tmp_path / part).glob("events.out.tfevents.*"):
            for event in tf.compat.v1.train.summary_iterator(str(f)):
                for v in event.summary.value:
                    value = float(tf.make_ndarray(v.tensor))
                    seen[part, v.tag, event.step] = value
    assert seen["train", "epoch_age_mae", 1] == 2.0 and seen["validation", "epoch_loss", 0] == -1.0
    assert seen["train", "epoch_learning_rate", 0] == pytest.approx(0.001)
    assert {tag for _, tag, _ in seen} == {f"epoch_{m}" for m in HISTORY_METRICS} | {"epoch_learning_rate"}
