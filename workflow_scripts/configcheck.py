"""Config errors in one line each, naming the key, before Snakemake's own schema validation."""

from __future__ import annotations

import itertools
import os
import urllib.parse
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from .download import redact_url


class ConfigError(ValueError):
    """One or more config keys are wrong; the message lists each as `key: problem`."""


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def schema_problems(data: Any, schema: dict[str, Any], what: str = "config key") -> list[str]:
    """Every violation of `schema`, as '<what> `a.b`: ...'."""
    problems = []
    for err in sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(map(str, e.path))):
        if err.validator == "additionalProperties":
            allowed = set(err.schema["properties"])
            for extra in sorted(set(err.instance) - allowed):
                problems.append(
                    f"{what} `{_key([*err.absolute_path, extra])}` is unknown "
                    f"(allowed here: {', '.join(sorted(allowed))})"
                )
        else:
            problems.append(f"{what} `{_key(err.absolute_path)}`: {err.message}")
    return problems


def config_problems(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Every schema violation and cross-key inconsistency, as 'config key `a.b`: ...'."""
    problems = schema_problems(config, schema)
    if problems:
        return problems
    # Rules a JSON schema cannot say, checked once the types are known to be right.
    # (every section and key is there now: the schema gives each a default)
    config = with_defaults(config, schema)
    labels, bins = config["labels"], config["split"]["age_bins"]
    if labels["min_age"] > labels["max_age"]:
        problems.append("config key `labels.min_age` is above `labels.max_age`")
    if any(b >= a for b, a in itertools.pairwise(bins)):
        problems.append("config key `split.age_bins` must be strictly increasing")
    elif bins[0] > labels["min_age"] or bins[-1] <= labels["max_age"]:
        problems.append(
            f"config key `split.age_bins` {bins} must cover ages {labels['min_age']}-{labels['max_age']}"
        )
    mb = config["model_b"]
    if mb["frozen_epochs"] > mb["epochs"]:
        problems.append("config key `model_b.frozen_epochs` is above `model_b.epochs`")
    problems += _source_problems(config["dataset"], config["synthetic"])
    for key, url in (("dataset.url", config["dataset"]["url"]), ("model_b.weights_url", mb["weights_url"])):
        problems += _url_problems(key, url)
    problems += _external_problems(config["evaluate"]["external"])
    pred = config["predict"]
    if pred["scenes"] and pred["input"]:
        # the scenes go to a folder of the workflow's own: a user's folder is read, never written
        problems.append(
            "config keys `predict.input` and `predict.scenes` are both set; keep one "
            "(the scenes are drawn into a folder of the workflow's own)"
        )
    elif pred["input"]:
        problems += _missing("predict.input", pred["input"])
    return problems


def _missing(key: str, path: str, folder: bool = True) -> list[str]:
    """A problem naming `key` when the file or folder it names does not exist."""
    if (os.path.isdir if folder else os.path.isfile)(path):
        return []
    kind = "folder" if folder else "file"
    return [f"config key `{key}`: no {kind} {path} (relative to {os.getcwd()})"]


def _url_problems(key: str, url: str) -> list[str]:
    """A download URL must name a file (its name is the download's file name): http, https or file, with
    a path not ending in /. Shown redacted: it may hold a password."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises for a host:port that is not one
    except ValueError:
        # (not shown: an unencoded / ? # in a password is what usually breaks it, and it would show)
        return [f"config key `{key}` is not a valid URL (percent-encode / ? # @ in a user name or password)"]
    shown = redact_url(url)
    if parts.scheme not in ("http", "https", "file"):
        return [f"config key `{key}`: {shown} is not an http, https or file URL"]
    if parts.scheme != "file" and not parts.hostname:
        return [f"config key `{key}`: {shown} names no host"]
    if parts.path.endswith("/") or not parts.path.strip("/"):
        return [f"config key `{key}`: {shown} must name a file (a path not ending in /)"]
    return []


def _external_problems(sets: list[dict[str, Any]]) -> list[str]:
    problems, names = [], [s["name"] for s in sets]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"config key `evaluate.external`: the name {dup} is used twice")
    for i, s in enumerate(sets):
        key = f"evaluate.external[{i}] ({s['name']})"
        if bool(s["path"]) == bool(s["synthetic_style"]):
            problems.append(f"config key `{key}`: give either `path` or `synthetic_style`")
        elif s["path"]:
            problems += _missing(f"{key}.path", s["path"])
    return problems


def _source_problems(ds: dict[str, Any], synth: dict[str, Any]) -> list[str]:
    """At most one data source, and a local one that exists (a missing one would start a download)."""
    problems = []
    for key in ("local_archive", "local_dir"):
        if ds[key] == "":
            problems.append(f"config key `dataset.{key}` is an empty string; use null for none")
    if ds["local_dir"] and ds["local_archive"]:
        problems.append("config keys `dataset.local_dir` and `dataset.local_archive` are both set; keep one")
    if synth["enabled"] and (ds["local_dir"] or ds["local_archive"]):
        problems.append("config key `synthetic.enabled` is true and a `dataset.local_*` key is set; keep one")
    if problems or synth["enabled"]:
        return problems
    return [p for key, folder in (("local_archive", False), ("local_dir", True)) if ds[key]
            for p in _missing(f"dataset.{key}", ds[key], folder)]  # fmt: skip


def with_defaults(config: Any, schema: dict[str, Any]) -> Any:
    """A copy of `config` with the schema's defaults filled in, at every depth (list items too)."""
    if isinstance(config, list) and "items" in schema:
        return [with_defaults(item, schema["items"]) for item in config]
    if schema.get("type") != "object" or not isinstance(config, dict):
        return config
    out = dict(config)
    for name, sub in schema.get("properties", {}).items():
        if name not in out and "default" in sub:
            out[name] = sub["default"]
        if name in out:
            out[name] = with_defaults(out[name], sub)
    return out


def coerce_strings(config: Any, schema: dict[str, Any]) -> Any:
    """Snakemake's `--config 'train={epochs: 3}'` hands nested values over as strings ('3'); read such a
    string as YAML where the schema wants a boolean, a number or null and the result fits. In place."""
    if isinstance(config, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in config:
                config[name] = coerce_strings(config[name], sub)
        return config
    if isinstance(config, list) and "items" in schema:
        return [coerce_strings(item, schema["items"]) for item in config]
    types = schema.get("type", [])
    types = types if isinstance(types, list) else [types]
    if isinstance(config, str) and "string" not in types:
        try:
            value = yaml.safe_load(config)
        except yaml.YAMLError:
            return config
        fits = {"boolean": bool, "integer": int, "number": (int, float), "null": type(None)}
        if any(isinstance(value, fits[t]) and not (t != "boolean" and isinstance(value, bool))
               for t in types if t in fits):  # fmt: skip
            return value
    return config


def load_yaml(path: str | os.PathLike) -> Any:
    """A config file, or a ConfigError naming the file, line and column of a YAML syntax error."""
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({err.problem or err.context})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None


def check_config(config: dict[str, Any], schema_path: str | os.PathLike) -> None:
    schema = load_yaml(schema_path)
    coerce_strings(config, schema)
    problems = config_problems(config, schema)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    """`python -m workflow_scripts.configcheck FILE...`: check config files before a run (Snakemake's own
    message for a YAML error in a `--configfile` names neither the file nor the line)."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("files", nargs="+")
    a = p.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    schema = os.path.join(root, "config", "schema.yaml")
    try:
        for f in a.files:
            config = load_yaml(f)
            if not isinstance(config, dict):
                raise ConfigError(f"{f}: a config file must map keys to values")
            check_config(config, schema)
            print(f"{f}: valid")
    except ConfigError as err:
        raise SystemExit(f"ERROR: {err}") from None


if __name__ == "__main__":
    main()
