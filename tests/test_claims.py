"""The claims file: every claim of the issue's list is there, each variant is a real config key that
changes what is trained, and every mistake in the file is one line naming the file and the claim."""

import pytest
import yaml
from helpers import ROOT, full_config

from workflow_scripts.claims import apply_variant, load_claims
from workflow_scripts.configcheck import ConfigError

CLAIMS, SCHEMA, CONFIG = (ROOT / "config" / n for n in ("claims.yaml", "claims.schema.yaml", "schema.yaml"))


def _load(path=CLAIMS):
    return load_claims(path, SCHEMA, CONFIG)


def test_the_shipped_claims_cover_the_studys_choices_of_both_models():
    claims = {c["id"]: c for c in _load()}
    a = {i for i, c in claims.items() if c["model"] == "A"}
    b = {i for i, c in claims.items() if c["model"] == "B"}
    assert len(a) == 8 and len(b) == 5
    assert claims["a_learning_rate"]["metrics"] == ["age_mae", "gender_accuracy", "best_epoch"]
    assert claims["b_global_average_pooling"]["metrics"][0] == "trainable_params"
    assert claims["a_separate_models"]["study_says"] == "variant_better"  # its own suggestion


def _what_is_trained(model: str, cfg: dict) -> tuple:
    """Everything a variant may change: the layers, the parameter count, the phases, the loss and the
    schedule (no training)."""
    from workflow_scripts import models
    from workflow_scripts.settings import for_training
    from workflow_scripts.train import epoch_plan

    run = for_training(cfg, model)
    if model == "A":
        net = models.build_model_a(32, run.model, run.augmentation, seed=1)
    else:
        net = models.build_model_b(32, run.model, run.augmentation, seed=1)
    layers = tuple((type(x).__name__, x.name) for x in net.layers)
    inits = tuple(type(getattr(x, "kernel_initializer", None)).__name__ for x in net.layers)
    schedule = (run.model.lr_schedule, run.model.age_loss, run.model.loss_weights)
    return layers, inits, models.trainable_params(net), str(epoch_plan(run)), schedule


@pytest.mark.parametrize("claim", _load(), ids=lambda c: c["id"])
def test_each_variant_changes_what_is_trained(claim):
    base = full_config()
    varied = apply_variant(base, claim["variant"])
    assert _what_is_trained(claim["model"], varied) != _what_is_trained(claim["model"], base)


def _write(tmp_path, claims):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": claims}))
    return path


GOOD = {"id": "x", "model": "A", "quote": "a sentence of the study", "metrics": ["age_mae"],
        "variant": {"model_a": {"bn_position": "after_relu"}}, "study_says": "baseline_better"}  # fmt: skip


@pytest.mark.parametrize(
    "change,message",
    [
        ({"variant": {"model_a": {"bn_at": 1}}}, "claim `x`: variant key `model_a.bn_at` is unknown"),
        ({"variant": {"model_a": {"bn_position": "up"}}}, "claim `x`: variant key `model_a.bn_position`"),
        ({"variant": {"model_a": {"bn_position": "before_relu"}}}, "claim `x`: the variant changes nothing"),
        ({"metrics": ["speed"]}, "key `claims.0.metrics.0`: 'speed' is not one of"),
        ({"study_says": "maybe"}, "key `claims.0.study_says`"),
        ({"id": "Has Space"}, "key `claims.0.id`"),
    ],
)
def test_a_wrong_claim_is_one_line_naming_the_file_and_the_claim(tmp_path, change, message):
    path = _write(tmp_path, [{**GOOD, **change}])
    with pytest.raises(ConfigError) as err:
        _load(path)
    assert str(err.value).startswith(f"{path}: invalid claims:")
    assert message in str(err.value)


def test_a_missing_field_and_a_repeated_id_are_named(tmp_path):
    short = {k: v for k, v in GOOD.items() if k != "quote"}
    with pytest.raises(ConfigError, match=r"'quote' is a required property"):
        _load(_write(tmp_path, [short]))
    with pytest.raises(ConfigError, match=r"claim `x`: the id is used twice"):
        _load(_write(tmp_path, [GOOD, GOOD]))


def test_a_variant_is_laid_over_the_config_at_every_depth_without_touching_it():
    base = full_config()
    varied = apply_variant(base, {"model_b": {"loss_weights": {"gender": 1.0}}})
    assert varied["model_b"]["loss_weights"] == {"age": 1.0, "gender": 1.0}
    assert base["model_b"]["loss_weights"]["gender"] == 10.0
