"""The learning-rate scheduler's state, replayed from the history after a restart, equals the state the
live scheduler had (Keras' ReduceLROnPlateau, driven epoch by epoch)."""

import types

import pytest

from workflow_scripts.callbacks import replay_plateau
from workflow_scripts.tfsetup import configure_tensorflow

configure_tensorflow()
import keras  # noqa: E402 - after the environment TensorFlow reads at import

LOSSES = [5.0, 4.0, 4.0, 4.1, 3.9, 3.95, 3.95, 3.95, 3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6]


@pytest.mark.parametrize("patience,cooldown,min_lr", [(1, 0, 0.0), (2, 0, 0.0), (2, 1, 0.0), (1, 0, 0.5)])
def test_replayed_state_equals_the_live_one_after_every_epoch(patience, cooldown, min_lr):
    def plateau():
        p = keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=patience, cooldown=cooldown, min_lr=min_lr
        )
        p.set_model(types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=1.0)))
        p.on_train_begin()
        return p

    live, rows = plateau(), []
    for epoch, loss in enumerate(LOSSES):
        lr = float(live.model.optimizer.learning_rate)
        live.on_epoch_end(epoch, {"val_loss": loss})
        rows.append({"epoch": epoch + 1, "lr": lr, "val_loss": loss})
        replayed = plateau()
        replay_plateau(replayed, rows, float(live.model.optimizer.learning_rate))
        state = (live.best, live.wait, live.cooldown_counter)
        assert (replayed.best, replayed.wait, replayed.cooldown_counter) == state, epoch
    assert float(live.model.optimizer.learning_rate) < 1.0  # the schedule did act
