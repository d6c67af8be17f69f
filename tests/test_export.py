"""`utkface export` never deletes what it did not write, and refuses a bad argument before converting
anything. A tiny Keras model (helpers.tiny_keras_model) and the Keras format keep these fast; the real
exports and their parity are in test_use.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    from helpers import tiny_keras_model

    d = tmp_path_factory.mktemp("models")
    (d / "corrupt.keras").write_text("not a zip")
    return {
        "ok": tiny_keras_model(d / "ok.keras"),
        "rgb32": tiny_keras_model(d / "rgb32.keras", size=32),
        "single": tiny_keras_model(d / "single.keras", heads="single"),
        "corrupt": d / "corrupt.keras",
    }


def _export(model: Path, out: Path, *extra: str):
    """The exit code: None when the export succeeded."""
    from workflow_scripts.cli import main

    try:
        main(["export", "--model", str(model), "--format", "keras", "--out", str(out), *map(str, extra)])
    except SystemExit as ended:
        return ended.code
    return None


def _is_error(code, flag: str) -> bool:
    return isinstance(code, str) and code.startswith("ERROR: ") and "\n" not in code and flag in code


def test_a_folder_it_did_not_write_is_never_replaced(tmp_path, models):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "important.txt").write_text("thesis")
    for extra in ((), ("--force",)):
        code = _export(models["ok"], d, *extra)
        assert _is_error(code, f"--out {d}"), code
        assert (d / "important.txt").read_text() == "thesis" and (d / "sub").is_dir()
        assert sorted(p.name for p in d.iterdir()) == ["important.txt", "sub"]
    assert not [p for p in tmp_path.iterdir() if p.name != "d"]  # no scratch folder left beside it


def test_an_earlier_export_is_replaced_only_with_force_and_only_while_it_holds_only_its_own_files(
    tmp_path, models
):
    d = tmp_path / "exp"
    assert _export(models["ok"], d) is None
    first = sorted(p.name for p in d.iterdir())
    assert {"model.keras", "parity.json"} <= set(first)
    code = _export(models["ok"], d)
    assert _is_error(code, "--force"), code
    (d / "model.keras").write_bytes(b"old")
    assert _export(models["ok"], d, "--force") is None
    assert (d / "model.keras").read_bytes() != b"old" and sorted(p.name for p in d.iterdir()) == first
    (d / "notes.txt").write_text("mine")
    code = _export(models["ok"], d, "--force")
    assert _is_error(code, "notes.txt"), code
    assert (d / "notes.txt").read_text() == "mine" and (d / "model.keras").exists()
    # an empty folder is fine (Snakemake, or the user, may have made it)
    (tmp_path / "empty").mkdir()
    assert _export(models["ok"], tmp_path / "empty") is None


@pytest.fixture()
def no_conversion(monkeypatch):
    def expensive(*args, **kwargs):
        raise AssertionError("conversion started before the arguments were checked")

    monkeypatch.setattr("workflow_scripts.export.write_formats", expensive)


def _arrays(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, array in {
        "good": np.zeros((4, 16, 16, 3), np.uint8),
        "size32": np.zeros((4, 32, 32, 3), np.uint8),
        "float": np.zeros((4, 16, 16, 3), np.float32),
    }.items():
        np.save(tmp_path / f"{name}.npy", array)
        out[name] = tmp_path / f"{name}.npy"
    (tmp_path / "text.npy").write_text("not an array")
    out["text"] = tmp_path / "text.npy"
    return out


BAD = {
    "out is the current folder": ("ok", ".", [], "--out"),
    "out is a file": ("ok", "{tmp}/good.npy", [], "--out"),
    "out in a read-only place": ("ok", "/proc/export", [], "--out"),
    "parity-n 0": ("ok", "{tmp}/e", ["--parity-images", "{good}", "--parity-n", "0"], "--parity-n"),
    "parity images of another size": ("ok", "{tmp}/e", ["--parity-images", "{size32}"], "--parity-images"),
    "parity images not uint8": ("ok", "{tmp}/e", ["--parity-images", "{float}"], "--parity-images"),
    "parity images not an array": ("ok", "{tmp}/e", ["--parity-images", "{text}"], "--parity-images"),
    "parity images missing": ("ok", "{tmp}/e", ["--parity-images", "{tmp}/none.npy"], "--parity-images"),
    "card without its files": (
        "ok",
        "{tmp}/e",
        ["--card", '{{"template": "{tmp}/good.npy"}}'],
        "--card lacks metrics, info, splits",
    ),
    "card not JSON": ("ok", "{tmp}/e", ["--card", "{tmp}/card.json"], "--card: not JSON"),
    "card file missing": ("ok", "{tmp}/e", ["--card", "@{tmp}/none.json"], "--card @{tmp}/none.json"),
    "card key misspelt": ("ok", "{tmp}/e", ["--card", '{{"synthtic": true}}'], "--card: unknown synthtic"),
    "unknown format": ("ok", "{tmp}/e", ["--format", "pt"], "--format"),
    "corrupt model": ("corrupt", "{tmp}/e", [], "--model"),
    "model with one unnamed output": ("single", "{tmp}/e", [], "--model"),
    "parity images for another model size": (
        "rgb32",
        "{tmp}/e",
        ["--parity-images", "{good}"],
        "--parity-images",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_argument_is_one_error_line_naming_it_before_any_conversion(
    case, tmp_path, models, no_conversion, monkeypatch
):
    model, out, extra, flag = BAD[case]
    monkeypatch.chdir(tmp_path)
    names = {"tmp": tmp_path, **_arrays(tmp_path)}
    before = sorted(p.name for p in tmp_path.iterdir())
    out = out.format(**names)
    code = _export(models[model], Path(out), *(x.format(**names) for x in extra))
    assert _is_error(code, flag.format(**names)), code
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_model_card_is_part_of_the_export_and_a_failing_one_leaves_the_earlier_export(tmp_path, models):
    d = tmp_path / "exp"
    assert _export(models["ok"], d) is None
    template = tmp_path / "card.md.j2"
    template.write_text("{{ no_such_field }}")
    (tmp_path / "m.json").write_text(json.dumps({"by_age_bin": {}, "by_race": {}}))
    (tmp_path / "i.json").write_text(json.dumps({"model": "A", "seed": 1}))
    splits = []
    for name in ("train", "val", "test"):
        (tmp_path / f"{name}.csv").write_text("path,age,gender,race,datetime\na.jpg,30,0,1,2017\n")
        splits.append(tmp_path / f"{name}.csv")
    card = {
        "template": str(template),
        "metrics": [str(tmp_path / "m.json")],  # a rule's list of one
        "info": str(tmp_path / "i.json"),
        "splits": [str(p) for p in splits],
    }
    code = _export(models["ok"], d, "--card", json.dumps(card), "--force")
    assert _is_error(code, "--card template"), code
    assert (d / "model.keras").exists() and not (d / "MODEL_CARD.md").exists()


def _card_files(tmp_path: Path) -> dict:
    template = tmp_path / "card.md.j2"
    template.write_text("{{ name }} | synthetic {{ synthetic }} | commit {{ commit }} | {{ counts.test }} | "
                        "{{ test.age_mae_text }}")  # fmt: skip
    metrics = {"age_mae": 6.5, "gender_accuracy": 0.9, "age_rmse": 8.0, "by_age_bin": {}, "by_race": {},
               "baselines": {"age_mae": 15.0, "gender_accuracy": 0.5}}  # fmt: skip
    (tmp_path / "m.json").write_text(json.dumps(metrics))
    info = {"model": "A", "seed": 1, "epochs_run": 3, "best_epoch": 2, "trainable_params": 9}
    info["image_size"] = 16
    (tmp_path / "i.json").write_text(json.dumps(info))
    for name in ("train", "val", "test"):
        (tmp_path / f"{name}.csv").write_text("path,age,gender,race,datetime\na.jpg,30,0,1,2017\n")
    splits = [str(tmp_path / f"{s}.csv") for s in ("train", "val", "test")]
    info = str(tmp_path / "i.json")
    return {"template": str(template), "metrics": [str(tmp_path / "m.json")], "info": info, "splits": splits}


def test_the_card_is_written_from_the_facts_given_in_json_or_a_file(tmp_path, models):
    facts = {**_card_files(tmp_path), "synthetic": True, "commit": "abc1234", "config": {"seed": 1}}
    assert _export(models["ok"], tmp_path / "e1", "--card", json.dumps(facts)) is None
    card = (tmp_path / "e1" / "MODEL_CARD.md").read_text()
    assert card.startswith("Model A (custom CNN) | synthetic True | commit abc1234 | 1 | 6.50")
    (tmp_path / "card.json").write_text(json.dumps({**facts, "synthetic": False}))
    assert _export(models["ok"], tmp_path / "e2", "--card", f"@{tmp_path / 'card.json'}") is None
    assert "synthetic False" in (tmp_path / "e2" / "MODEL_CARD.md").read_text()


@pytest.mark.parametrize(
    "change,message",
    [
        ({"synthetic": "false"}, "--card synthetic: a JSON bool, not 'false'"),
        ({"config": [1]}, "--card config: a JSON dict"),
        ({"metrics": ["a.json", "b.json"]}, "--card metrics: one path"),
        ({"splits": ["a.csv"]}, "--card splits: three CSVs"),
    ],
)
def test_a_card_fact_of_the_wrong_kind_is_named(tmp_path, models, change, message):
    code = _export(models["ok"], tmp_path / "e", "--card", json.dumps({**_card_files(tmp_path), **change}))
    assert _is_error(code, message), code
    assert not (tmp_path / "e").exists()
