"""The study's claims (`config/claims.yaml`): each an id, the study's sentence, the model, the variant (config
overrides that undo the study's choice), the metrics it is judged on and the side the study says is better.

`load_claims` checks the file against `config/claims.schema.yaml`, and each variant against the workflow's
own schema: every key it overrides must exist there, the overridden config must be valid, and the variant
must change something. Every problem is one line naming the file and the claim.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from .configcheck import ConfigError, config_problems, load_yaml, schema_problems, with_defaults


def apply_variant(config: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `config` with the variant's values laid over it, at every depth."""
    out = copy.deepcopy(config)
    for key, value in variant.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = apply_variant(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _variant_problems(claim: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    base = with_defaults({}, schema)
    varied = apply_variant(base, claim["variant"])
    problems = [p.replace("config key", "variant key", 1) for p in config_problems(varied, schema)]
    if not problems and varied == base:
        problems.append("the variant changes nothing: every value it sets is the study's default")
    return problems


def load_claims(path: str | os.PathLike, claims_schema: str | os.PathLike,
                config_schema: str | os.PathLike) -> list[dict[str, Any]]:  # fmt: skip
    """The claims of `path`, checked; a ConfigError listing every problem, one line each."""
    data = load_yaml(path)
    problems = schema_problems(data, load_yaml(claims_schema), what="key")
    if problems:
        raise ConfigError(f"{path}: invalid claims:\n  " + "\n  ".join(problems))
    schema = load_yaml(config_schema)
    seen: set[str] = set()
    for claim in data["claims"]:
        if claim["id"] in seen:
            problems.append(f"claim `{claim['id']}`: the id is used twice")
        seen.add(claim["id"])
        problems += [f"claim `{claim['id']}`: {p}" for p in _variant_problems(claim, schema)]
    if problems:
        raise ConfigError(f"{path}: invalid claims:\n  " + "\n  ".join(problems))
    return data["claims"]
