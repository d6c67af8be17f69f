"""Config errors in one line each, naming the key, before Snakemake's own schema validation."""

from __future__ import annotations

import itertools
import os
from typing import Any

import yaml
from jsonschema import Draft202012Validator


class ConfigError(ValueError):
    """One or more config keys are wrong; the message lists each as `key: problem`."""


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def config_problems(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Every schema violation and cross-key inconsistency, as 'config key `a.b`: ...'."""
    problems = []
    for err in sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(map(str, e.path))):
        if err.validator == "additionalProperties":
            allowed = set(err.schema.get("properties", {}))
            for extra in sorted(set(err.instance) - allowed):
                problems.append(
                    f"config key `{_key([*err.absolute_path, extra])}` is unknown "
                    f"(allowed here: {', '.join(sorted(allowed))})"
                )
        else:
            problems.append(f"config key `{_key(err.absolute_path)}`: {err.message}")
    if problems:
        return problems
    # Rules a JSON schema cannot say, checked once the types are known to be right.
    config = with_defaults(config, schema)
    labels, split = config.get("labels", {}), config.get("split", {})
    if labels and labels["min_age"] > labels["max_age"]:
        problems.append("config key `labels.min_age` is above `labels.max_age`")
    bins = split.get("age_bins")
    if bins is not None:
        if any(b >= a for b, a in itertools.pairwise(bins)):
            problems.append("config key `split.age_bins` must be strictly increasing")
        elif labels and (bins[0] > labels["min_age"] or bins[-1] <= labels["max_age"]):
            problems.append(
                f"config key `split.age_bins` {bins} must cover ages {labels['min_age']}-{labels['max_age']}"
            )
    mb = config.get("model_b", {})
    if mb and mb["frozen_epochs"] > mb["epochs"]:
        problems.append("config key `model_b.frozen_epochs` is above `model_b.epochs`")
    ds = config.get("dataset", {})
    if ds.get("local_dir") and ds.get("local_archive"):
        problems.append("config keys `dataset.local_dir` and `dataset.local_archive` are both set; keep one")
    return problems


def with_defaults(config: Any, schema: dict[str, Any]) -> Any:
    """A copy of `config` with the schema's defaults filled in, at every depth."""
    if schema.get("type") != "object" or not isinstance(config, dict):
        return config
    out = dict(config)
    for name, sub in schema.get("properties", {}).items():
        if name not in out and "default" in sub:
            out[name] = sub["default"]
        if name in out:
            out[name] = with_defaults(out[name], sub)
    return out


def check_config(config: dict[str, Any], schema_path: str | os.PathLike) -> None:
    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    problems = config_problems(config, schema)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
