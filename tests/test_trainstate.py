"""The training state file: one file per finished epoch, read back whole or passed over with its reason."""

import numpy as np

from workflow_scripts import trainstate
from workflow_scripts.trainstate import TrainingState


def _state(epoch: int, key: str = "k1") -> TrainingState:
    rng = np.random.default_rng(epoch)
    return TrainingState(
        run_key=key,
        epoch=epoch,
        phase="unfrozen",
        rows=[{"epoch": e, "val_loss": 1.0 / e} for e in range(1, epoch + 1)],
        best_val_loss=0.25,
        best_epoch=epoch - 1,
        best_model=bytes(range(256)) * 3,
        plateau={"best": 0.25, "wait": 1, "cooldown_counter": 0},
        model_vars=[rng.standard_normal((3, 4)).astype("float32"), np.array([5, 7], dtype="int64")],
        optimizer_vars=[np.array(12, dtype="int64"), rng.standard_normal(4).astype("float32")],
    )


def _same(a: TrainingState, b: TrainingState) -> bool:
    arrays = ("model_vars", "optimizer_vars")
    if {k: v for k, v in a.__dict__.items() if k not in arrays} != {
        k: v for k, v in b.__dict__.items() if k not in arrays
    }:
        return False
    return all(
        len(getattr(a, n)) == len(getattr(b, n))
        and all(
            x.dtype == y.dtype and np.array_equal(x, y)
            for x, y in zip(getattr(a, n), getattr(b, n), strict=True)
        )
        for n in arrays
    )


def test_a_saved_state_reads_back_whole(tmp_path):
    st = _state(3)
    trainstate.save(tmp_path, st)
    got, skipped = trainstate.load(tmp_path, "k1")
    assert skipped == [] and _same(got, st)


def test_the_newest_and_the_one_before_are_kept_older_ones_removed(tmp_path):
    for e in range(1, 5):
        trainstate.save(tmp_path, _state(e))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state-00003.npz", "state-00004.npz"]
    assert trainstate.load(tmp_path, "k1")[0].epoch == 4


def test_a_cut_newest_state_is_passed_over_for_the_one_before(tmp_path):
    for e in (1, 2):
        trainstate.save(tmp_path, _state(e))
    newest = tmp_path / "state-00002.npz"
    newest.write_bytes(newest.read_bytes()[:-200])
    got, skipped = trainstate.load(tmp_path, "k1")
    assert _same(got, _state(1))
    assert len(skipped) == 1 and skipped[0].startswith("state-00002.npz: ")


def test_a_state_of_another_run_is_never_resumed(tmp_path):
    trainstate.save(tmp_path, _state(2, key="other"))
    got, skipped = trainstate.load(tmp_path, "k1")
    assert got is None and "another model, seed or configuration" in skipped[0]


def test_the_run_key_changes_with_model_seed_and_config():
    keys = {
        trainstate.run_key("A", 1, {"lr": 1}),
        trainstate.run_key("B", 1, {"lr": 1}),
        trainstate.run_key("A", 2, {"lr": 1}),
        trainstate.run_key("A", 1, {"lr": 2}),
    }
    assert len(keys) == 4 and trainstate.run_key("A", 1, {"lr": 1}) in keys


def test_clear_empties_the_folder_and_no_name_of_ours_is_misread(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".state-00009.npz.abc.npz").write_bytes(b"cut")  # a write a kill interrupted
    (tmp_path / "state-9.npz").write_bytes(b"not ours")
    assert trainstate.load(tmp_path, "k1") == (None, [])  # neither name is a state file
    trainstate.clear(tmp_path)
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []
