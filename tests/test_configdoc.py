"""config/README.md's table: every key of the schema, list items' keys too, with their defaults."""

import json

import yaml
from helpers import ROOT

from workflow_scripts import configdoc


def test_the_keys_of_list_items_are_rows_with_their_defaults():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    item = schema["properties"]["evaluate"]["properties"]["external"]["items"]["properties"]
    table = {line.split("|")[1].strip(): line for line in configdoc.rows(schema)}
    for name, sub in item.items():
        row = table[f"`evaluate.external[].{name}`"]
        default = row.split("|")[3].strip()
        assert default == (f"`{json.dumps(sub['default'])}`" if "default" in sub else ""), row
