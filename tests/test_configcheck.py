"""Config checks, message by message: each bad config gives exactly its problems, each edge case none;
through `snakemake -n` and `python -m workflow_scripts.configcheck` too (a YAML error named by file and
line, a missing local archive by its key)."""

import subprocess
import sys

import pytest
import yaml
from helpers import ROOT, snakemake

from workflow_scripts import configcheck
from workflow_scripts.configcheck import (
    ConfigError,
    coerce_strings,
    config_problems,
    load_yaml,
    with_defaults,
)

SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
CK = "config key"


def _allowed(section):
    return ", ".join(sorted(SCHEMA["properties"][section]["properties"]))


@pytest.mark.parametrize(
    "config,expected",
    [
        ({"image_size": "big"}, [f"{CK} `image_size`: 'big' is not of type 'integer'"]),
        (
            {"dataset": {"mirror": "x", "amirror": 1}},
            [
                f"{CK} `dataset.{k}` is unknown (allowed here: {_allowed('dataset')})"
                for k in ("amirror", "mirror")
            ],
        ),
        # sorted by key path, whatever order the validator finds them in
        (
            {"split": {"val_fraction": "x"}, "image_size": "y"},
            [
                f"{CK} `image_size`: 'y' is not of type 'integer'",
                f"{CK} `split.val_fraction`: 'x' is not of type 'number'",
            ],
        ),
        ({"labels": {"min_age": 60, "max_age": 50}}, [f"{CK} `labels.min_age` is above `labels.max_age`"]),
        ({"model_b": {"frozen_epochs": 60}}, [f"{CK} `model_b.frozen_epochs` is above `model_b.epochs`"]),
        (
            {"split": {"age_bins": [1, 20, 116]}},
            [f"{CK} `split.age_bins` [1, 20, 116] must cover ages 1-116"],
        ),
        (
            {"split": {"age_bins": [2, 20, 117]}},
            [f"{CK} `split.age_bins` [2, 20, 117] must cover ages 1-116"],
        ),
        ({"split": {"age_bins": [0, 50, 50, 117]}}, [f"{CK} `split.age_bins` must be strictly increasing"]),
        (
            {"dataset": {"local_dir": "", "local_archive": ""}},
            [
                f"{CK} `dataset.{k}` is an empty string; use null for none"
                for k in ("local_archive", "local_dir")
            ],
        ),
        (
            {"dataset": {"local_dir": "a", "local_archive": "b"}},
            [f"{CK}s `dataset.local_dir` and `dataset.local_archive` are both set; keep one"],
        ),
        (
            {"synthetic": {"enabled": True}, "dataset": {"local_archive": "x"}},
            [f"{CK} `synthetic.enabled` is true and a `dataset.local_*` key is set; keep one"],
        ),
        (
            {"predict": {"input": "my_photos", "scenes": 2}},  # the scenes never go into a user's folder
            [
                f"{CK}s `predict.input` and `predict.scenes` are both set; keep one "
                "(the scenes are drawn into a folder of the workflow's own)"
            ],
        ),
        (
            {
                "evaluate": {
                    "external": [{"name": "a", "synthetic_style": 1}, {"name": "a", "synthetic_style": 2}]
                }
            },
            [f"{CK} `evaluate.external`: the name a is used twice"],
        ),
        (
            {"evaluate": {"external": [{"name": "a"}, {"name": "b", "path": "p", "synthetic_style": 1}]}},
            [
                f"{CK} `evaluate.external[{i}] ({n})`: give either `path` or `synthetic_style`"
                for i, n in ((0, "a"), (1, "b"))
            ],
        ),
    ],
)
def test_each_bad_config_gives_exactly_its_problems(config, expected):
    assert config_problems(config, SCHEMA) == expected


@pytest.mark.parametrize(
    "config",
    [
        {"labels": {"min_age": 50, "max_age": 50}},  # equal ages are a valid (narrow) range
        {"model_b": {"epochs": 5, "frozen_epochs": 5}},  # all epochs frozen is allowed
        {"split": {"age_bins": [1, 20, 117]}},  # bins exactly covering min_age and max_age
        {"synthetic": {"enabled": True}, "dataset": {"local_dir": None}},
        {"predict": {"input": None, "scenes": 2}},  # the scenes are drawn into a folder of our own
        {
            "evaluate": {
                "external": [{"name": "a", "synthetic_style": 1}, {"name": "b", "synthetic_style": 1}]
            }
        },
    ],
)
def test_edge_cases_that_are_valid(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_problems(config, SCHEMA) == []


def test_paths_must_exist_and_be_the_right_kind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.tgz").write_bytes(b"x")
    here = f"(relative to {tmp_path})"
    cases = [
        ({"dataset": {"local_archive": "folder"}}, [f"{CK} `dataset.local_archive`: no file folder {here}"]),
        ({"dataset": {"local_dir": "file.tgz"}}, [f"{CK} `dataset.local_dir`: no folder file.tgz {here}"]),
        ({"dataset": {"local_archive": "file.tgz"}}, []),
        ({"dataset": {"local_dir": "folder"}}, []),
        ({"predict": {"input": "nowhere"}}, [f"{CK} `predict.input`: no folder nowhere {here}"]),
        ({"predict": {"input": "folder"}}, []),
        (
            {"evaluate": {"external": [{"name": "x", "path": "gone"}]}},
            [f"{CK} `evaluate.external[0] (x).path`: no folder gone {here}"],
        ),
        ({"evaluate": {"external": [{"name": "x", "path": "folder"}]}}, []),
        # a synthetic run never looks for local files (the keys conflict instead, named above)
        ({"synthetic": {"enabled": True}}, []),
    ]
    for config, expected in cases:
        assert config_problems(config, SCHEMA) == expected, config


def test_with_defaults_fills_every_depth_and_keeps_given_values():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "default": 1},
            "b": {"type": "object", "default": {}, "properties": {"c": {"type": "integer", "default": 2}}},
            "d": {"type": "integer"},
        },
    }
    assert with_defaults({}, schema) == {"a": 1, "b": {"c": 2}}
    assert with_defaults({"a": 5, "b": {"c": 7}}, schema) == {"a": 5, "b": {"c": 7}}
    given = {"b": {}}
    assert with_defaults(given, schema) == {"a": 1, "b": {"c": 2}} and given == {"b": {}}  # a copy
    assert with_defaults(3, schema) == 3 and with_defaults({"x": 1}, {"type": "integer"}) == {"x": 1}


def test_coerce_strings_reads_command_line_strings_as_their_schema_type():
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "x": {"type": "number"},
            "maybe": {"type": ["integer", "null"]},
            "flag": {"type": "boolean"},
            "name": {"type": "string"},
            "sub": {"type": "object", "properties": {"k": {"type": "integer"}}},
        },
    }
    config = {"n": "3", "x": "0.5", "maybe": "null", "flag": "false", "name": "12", "sub": {"k": "4"}}
    assert coerce_strings(config, schema) == {
        "n": 3,
        "x": 0.5,
        "maybe": None,
        "flag": False,
        "name": "12",
        "sub": {"k": 4},
    }
    # values that do not fit stay strings, for the check to name: a boolean is not an integer
    bad = {"n": "true", "x": "[1", "flag": "3", "maybe": "2.5"}
    assert coerce_strings(dict(bad), schema) == bad
    assert coerce_strings({"n": 3}, schema) == {"n": 3}


def test_load_yaml_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 1\nsplit:\n  val_fraction: [0.2\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(bad)
    assert str(err.value).startswith(f"{bad}, line 4, column 1: not valid YAML (")
    with pytest.raises(ConfigError, match=r"^.*missing\.yaml: cannot read \(No such file or directory\)$"):
        load_yaml(tmp_path / "missing.yaml")
    assert load_yaml(ROOT / "config" / "demo.yaml")["synthetic"]["enabled"] is True


def test_main_checks_each_file(tmp_path, capsys):
    configcheck.main([str(ROOT / "config" / "demo.yaml")])
    assert capsys.readouterr().out == f"{ROOT / 'config' / 'demo.yaml'}: valid\n"
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(SystemExit) as err:
        configcheck.main([str(tmp_path / "list.yaml")])
    assert str(err.value) == f"ERROR: {tmp_path / 'list.yaml'}: a config file must map keys to values"
    (tmp_path / "bad.yaml").write_text("image_size: 8\n")
    with pytest.raises(SystemExit) as err:
        configcheck.main([str(tmp_path / "bad.yaml")])
    assert (
        str(err.value)
        == "ERROR: invalid configuration:\n  config key `image_size`: 8 is less than the minimum of 32"
    )
    with pytest.raises(SystemExit):
        configcheck.main([])


def test_problems_from_every_section_are_all_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {
        "dataset": {"local_dir": "gone"},
        "evaluate": {"external": [{"name": "e", "path": "gone_too"}]},
        "predict": {"input": "gone_three"},
    }
    here = f"(relative to {tmp_path})"
    assert config_problems(config, SCHEMA) == [
        f"{CK} `dataset.local_dir`: no folder gone {here}",
        f"{CK} `evaluate.external[0] (e).path`: no folder gone_too {here}",
        f"{CK} `predict.input`: no folder gone_three {here}",
    ]
    assert config_problems([], SCHEMA) == [f"{CK} `(top level)`: [] is not of type 'object'"]


def test_check_config_reads_command_line_strings_first_and_lists_every_problem():
    config = {"image_size": "64", "model_a": {"epochs": "3"}}
    configcheck.check_config(config, ROOT / "config" / "schema.yaml")
    assert config == {"image_size": 64, "model_a": {"epochs": 3}}
    with pytest.raises(ConfigError) as err:
        configcheck.check_config({"image_size": 8, "seed": "x"}, ROOT / "config" / "schema.yaml")
    assert str(err.value) == (
        "invalid configuration:\n"
        "  config key `image_size`: 8 is less than the minimum of 32\n"
        "  config key `seed`: 'x' is not of type 'integer'"
    )


def test_schemas_without_properties_or_type():
    assert with_defaults({"a": 1}, {"type": "object"}) == {"a": 1}
    assert coerce_strings({"a": "1"}, {"type": "object"}) == {"a": "1"}
    assert coerce_strings("1", {}) == "1"
    # a string is left alone where the schema allows strings, even one that YAML would read as null
    either = {"type": "object", "properties": {"s": {"type": ["string", "null"]}}}
    assert coerce_strings({"s": "null"}, either) == {"s": "null"}


def test_yaml_error_message_whole(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(bad)
    assert str(err.value) == (
        f"{bad}, line 2, column 1: not valid YAML (expected ',' or ']', but got '<stream end>')"
    )


@pytest.mark.parametrize(
    "url,problem",
    [
        ("https://host/dir/", "https://host/dir/ must name a file (a path not ending in /)"),
        ("https://host", "https://host must name a file (a path not ending in /)"),
        (
            "https://host/?file=x.tar.gz",
            "https://host/?file=x.tar.gz must name a file (a path not ending in /)",
        ),
        ("https://alice:S3cretPW@host/", "https://alice:***@host/ must name a file (a path not ending in /)"),
        ("ftp://host/f.tar.gz", "ftp://host/f.tar.gz is not an http, https or file URL"),
        ("UTKFace.tar.gz", "UTKFace.tar.gz is not an http, https or file URL"),
        ("https:///f.tar.gz", "https:///f.tar.gz names no host"),
    ],
)
def test_a_download_url_must_name_a_file(url, problem):
    for key, section, name in (
        ("dataset.url", "dataset", "url"),
        ("model_b.weights_url", "model_b", "weights_url"),
    ):
        assert config_problems({section: {name: url}}, SCHEMA) == [f"{CK} `{key}`: {problem}"]


def test_a_url_that_does_not_parse_is_named_without_showing_it():
    # an unencoded / in the password ends the host part early: the password would show
    assert config_problems({"dataset": {"url": "https://alice:S3c/ret@host/f.tar.gz"}}, SCHEMA) == [
        f"{CK} `dataset.url` is not a valid URL (percent-encode / ? # @ in a user name or password)"
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://host/f.tar.gz?download=1",
        "http://alice:S3cretPW@127.0.0.1:8080/data/UTKFace.tar.gz",
        "file:///data/UTKFace.tar.gz",
    ],
)
def test_download_urls_that_are_valid(url):
    assert config_problems({"dataset": {"url": url}}, SCHEMA) == []


@pytest.mark.cli
def test_snakemake_refuses_a_url_naming_a_folder_in_one_line_naming_the_key(tmp_path):
    (tmp_path / "url.yaml").write_text("dataset:\n  url: https://example.org/UTKFace/\n")
    proc = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "url.yaml"), check=False)
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "ChildIOException" not in said
    assert "config key `dataset.url`: https://example.org/UTKFace/ must name a file" in said


def _dry_run_fails(tmp_path, config_text):
    """A dry run with a config file holding `config_text`, which must fail: (the file, its output)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config_text)
    proc = snakemake(tmp_path, "-n", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    return cfg, proc.stdout + proc.stderr


@pytest.mark.cli
def test_a_yaml_error_in_a_config_file_names_the_file_and_line(tmp_path):
    cfg, _ = _dry_run_fails(tmp_path, "seed: 3\nsplit:\n  train_val_size: [1, 2\n")

    # Snakemake reads --configfile before our Snakefile runs and names neither file nor line; our
    # checker, which the message's README section points to, does
    def configcheck(path):
        cmd = [sys.executable, "-m", "workflow_scripts.configcheck", str(path)]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)

    check = configcheck(cfg)
    assert check.returncode == 1
    assert f"ERROR: {cfg}, line 4, column 1: not valid YAML" in check.stderr
    good = configcheck(ROOT / "config/demo.yaml")
    assert good.returncode == 0 and "valid" in good.stdout


@pytest.mark.cli
def test_a_missing_local_archive_is_refused_naming_the_key_not_downloaded(tmp_path):
    _, out = _dry_run_fails(tmp_path, "dataset: {local_archive: resources/UTKFace.tar.gz}\n")
    assert "config key `dataset.local_archive`: no file resources/UTKFace.tar.gz" in out
    assert "rule download_archive" not in out
