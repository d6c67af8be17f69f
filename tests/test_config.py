import re

import pytest
import yaml
from helpers import ROOT, snakemake

from workflow_scripts.configcheck import ConfigError, check_config, config_problems, with_defaults

SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())


@pytest.mark.parametrize(
    "config,expected",
    [
        ({"image_size": "big"}, "`image_size`: 'big' is not of type 'integer'"),
        ({"dataset": {"mirror": "x"}}, "`dataset.mirror` is unknown"),
        ({"colour": 1}, "`colour` is unknown"),
        ({"model_a": {"learning_rate": -1}}, "`model_a.learning_rate`"),
        ({"split": {"val_fraction": 1.5}}, "`split.val_fraction`"),
        ({"model_b": {"frozen_epochs": 60}}, "`model_b.frozen_epochs` is above"),
        ({"split": {"age_bins": [10, 20, 200]}}, "must cover ages 1-116"),
        ({"split": {"age_bins": [0, 50, 20, 117]}}, "strictly increasing"),
        ({"dataset": {"local_dir": "a", "local_archive": "b"}}, "keep one"),
    ],
)
def test_each_problem_names_its_key(config, expected):
    assert any(expected in p for p in config_problems(config, SCHEMA)), config_problems(config, SCHEMA)


def test_shipped_configs_are_valid_and_defaults_are_the_studys():
    for name in ("config.yaml", "demo.yaml"):
        check_config(yaml.safe_load((ROOT / "config" / name).read_text()), ROOT / "config" / "schema.yaml")
    full = with_defaults({}, SCHEMA)
    assert full["image_size"] == 128
    assert full["split"]["train_val_size"] == 5000 and full["split"]["val_fraction"] == 0.2
    assert full["model_a"]["learning_rate"] == 0.0013
    assert (full["model_a"]["lr_factor"], full["model_a"]["lr_patience"]) == (0.8, 7)
    assert full["model_b"]["frozen_epochs"] == 5 and full["model_b"]["unfreeze_layers"] == 8
    assert (full["model_b"]["frozen_learning_rate"], full["model_b"]["learning_rate"]) == (0.001, 0.00002)
    assert full["model_b"]["loss_weights"] == {"age": 1.0, "gender": 10.0}
    with pytest.raises(ConfigError, match="image_size"):
        check_config({"image_size": 8}, ROOT / "config" / "schema.yaml")


@pytest.mark.cli
def test_snakemake_refuses_a_bad_config_naming_the_key(tmp_path):
    (tmp_path / "bad.yaml").write_text("dataset:\n  mirorr: https://example.org\n")
    proc = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "bad.yaml"), check=False)
    assert proc.returncode != 0
    assert "`dataset.mirorr` is unknown" in proc.stdout + proc.stderr


@pytest.mark.cli
def test_nested_config_from_the_command_line_is_read_as_its_type(tmp_path):
    config = {"train": {"epochs": "3", "require_gpu": "true", "deterministic": "null"}, "seed": "x1"}
    from workflow_scripts.configcheck import coerce_strings

    coerce_strings(config, SCHEMA)
    assert config["train"] == {"epochs": 3, "require_gpu": True, "deterministic": None}
    assert config["seed"] == "x1"  # not an integer: left for the check to name
    lists = coerce_strings({"claims": {"data_sizes": ["500", "16000"], "only": ["a_mse_loss"]}}, SCHEMA)
    assert lists["claims"] == {"data_sizes": [500, 16000], "only": ["a_mse_loss"]}  # ids stay text
    assert any("`seed`" in p for p in config_problems(config, SCHEMA))
    # through the real CLI: a nested key set with --config reaches the DAG as a number
    proc = snakemake(
        tmp_path, "-n", "--configfile", str(ROOT / "config/demo.yaml"), "--config", "model_a={epochs: 2}"
    )
    assert proc.returncode == 0


@pytest.mark.parametrize(
    "config,expected",
    [
        ({"dataset": {"local_dir": ""}}, "`dataset.local_dir` is an empty string"),
        ({"dataset": {"local_archive": "no/U.tgz"}}, "`dataset.local_archive`: no file no/U.tgz"),
        ({"dataset": {"local_dir": "nowhere"}}, "`dataset.local_dir`: no folder nowhere"),
        ({"synthetic": {"enabled": True}, "dataset": {"local_dir": "x"}}, "`synthetic.enabled` is true"),
    ],
)
def test_data_source_problems_name_their_key(config, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert any(expected in p for p in config_problems(config, SCHEMA)), config_problems(config, SCHEMA)


@pytest.mark.cli
@pytest.mark.parametrize(
    "cores,extra,expected", [("8", [], 8), ("8", ["preprocess={threads: 3}"], 3), ("2", [], 2)]
)
def test_the_image_steps_take_preprocess_threads_up_to_the_cores_given(tmp_path, cores, extra, expected):
    config = ["--configfile", str(ROOT / "config/demo.yaml"), *(["--config", *extra] if extra else [])]
    out = snakemake(tmp_path, "-n", "-p", f"-c{cores}", *config).stdout
    commands = [line for line in out.splitlines() if line.startswith("Shell command: python -m")]
    decoding = [c for c in commands if "workflow_scripts.labels" in c or "workflow_scripts.synthetic" in c]
    assert len(decoding) == 4  # labels and the synthetic set, for the study's data and the external set
    for command in decoding:
        assert re.search(r"--(threads|workers) (\d+)", command).group(2) == str(expected), command


def _schema_keys(schema: dict) -> set[str]:
    keys = set()
    for name, sub in schema.get("properties", {}).items():
        keys |= {name} | _schema_keys(sub)
    return keys | (_schema_keys(schema["items"]) if "items" in schema else set())


def test_no_config_default_lives_outside_the_schema():
    """The schema fills every default before any code runs: a `.get("key", default)` or `.get("key") or
    default` on a config key in the code would be a second default that can disagree with it. ("name" is
    left out: a word for many things, and the one config key of that name is required.)"""
    keys = _schema_keys(SCHEMA) - {"name"}
    found = []
    files = [*(ROOT / "workflow_scripts").glob("*.py"), *(ROOT / "rules").glob("*.smk"), ROOT / "Snakefile"]
    for path in files:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for m in re.finditer(r"""\.get\(\s*["'](\w+)["']\s*(,|\)\s*or\b)""", line):
                if m[1] in keys:
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
    # an item of a list is filled too: an external test set's drawn size
    sets = with_defaults({"evaluate": {"external": [{"name": "x", "synthetic_style": 2}]}}, SCHEMA)
    assert sets["evaluate"]["external"] == [
        {"name": "x", "path": None, "synthetic_style": 2, "n_images": 300}
    ]
