"""Typed settings: exactly the schema's keys, no defaults of their own, built once from the config."""

import dataclasses
import json
import shlex

import pytest
import yaml
from helpers import ROOT, copy_config, full_config, snakemake

from workflow_scripts import settings
from workflow_scripts.settings import RULE_ONLY, Augmentation, LossWeights, ModelA, ModelB, Training

SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())["properties"]


def _keys(section: dict) -> set[str]:
    return set(section["properties"])


@pytest.mark.parametrize(
    "cls,section,leave_out",
    [
        (Augmentation, SCHEMA["augmentation"], ()),
        (ModelA, SCHEMA["model_a"], ()),
        (ModelB, SCHEMA["model_b"], ()),
        (LossWeights, SCHEMA["model_a"]["properties"]["loss_weights"], ()),
        (LossWeights, SCHEMA["model_b"]["properties"]["loss_weights"], ()),
        (Training, SCHEMA["train"], RULE_ONLY),
    ],
    ids=["augmentation", "model_a", "model_b", "a.loss_weights", "b.loss_weights", "train"],
)
def test_each_dataclass_holds_exactly_its_schema_sections_keys(cls, section, leave_out):
    """A key added to the schema must be added here (and read), and one dropped there must go here."""
    assert {f.name for f in dataclasses.fields(cls)} == _keys(section) - set(leave_out)
    fields = dataclasses.fields(cls)
    assert all(f.default is f.default_factory is dataclasses.MISSING for f in fields)  # no second defaults


def test_the_values_are_the_schemas_defaults_typed():
    run = settings.for_training(full_config(), "A")
    defaults = {k: v["default"] for k, v in SCHEMA["augmentation"]["properties"].items()}
    assert dataclasses.asdict(run.augmentation) == defaults
    # a list in the config, a tuple here (hashable, and no one appends to it)
    assert run.model.shared_filters == tuple(SCHEMA["model_a"]["properties"]["shared_filters"]["default"])
    assert run.model.loss_weights == LossWeights(age=1.0, gender=1.0)
    assert run.epochs == SCHEMA["model_a"]["properties"]["epochs"]["default"]
    b = settings.for_training(full_config(train={"epochs": 3}), "B")
    assert isinstance(b.model, ModelB) and b.epochs == 3  # train.epochs overrides each model's own
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.model.dropout = 0.0


@pytest.mark.parametrize(
    "section,change,message",
    [
        ("augmentation", lambda d: d.pop("rotation"), "missing augmentation.rotation"),
        ("model_a", lambda d: d.update(widht=3), "unknown model_a.widht"),
        ("model_a", lambda d: d["loss_weights"].pop("gender"), "missing model_a.loss_weights.gender"),
    ],
)
def test_a_missing_or_unknown_key_fails_naming_it(section, change, message):
    """Code below the schema never papers over a missing key with a default of its own."""
    cfg = full_config()
    cfg[section] = json.loads(json.dumps(cfg[section]))
    change(cfg[section])
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        settings.for_training(cfg, "A")


def test_the_train_rule_passes_exactly_what_a_training_reads(tmp_path):
    """The rule's JSON (`training_config`) builds each model's settings, nothing left over or missing."""
    cfg = copy_config(tmp_path)
    out = snakemake(tmp_path, "-n", "-p", "--configfile", str(cfg)).stdout
    seen = set()
    for line in out.splitlines():
        if "workflow_scripts.train " not in line:
            continue
        args = shlex.split(line)
        model, passed = args[args.index("--model") + 1], json.loads(args[args.index("--config") + 1])
        assert not set(RULE_ONLY) & set(passed["train"])
        run = settings.for_training(passed, model)
        assert run.name == model and run.epochs > 0
        seen.add(model)
    assert seen == {"A", "B"}, out[-2000:]
