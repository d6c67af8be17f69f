"""Project checks run as tests: linters, Snakemake's own lint, dry runs of both configs, docs freshness."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, snakemake

BIN = Path(sys.executable).parent


def _run(*cmd):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_ruff_is_clean():
    proc = _run(BIN / "ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _run(BIN / "ruff", "format", "--check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakefmt_is_clean():
    proc = _run(BIN / "snakefmt", "--check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("config", ["config.yaml", "demo.yaml"])
def test_snakemake_lint_is_clean(tmp_path, config):
    proc = snakemake(tmp_path, "--lint", "--configfile", str(ROOT / "config" / config), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "config,first,trainings,evaluations",
    # the demo: + 1 test set, and its small claims grid (12 trainings, each evaluated on the test split)
    [("config.yaml", "download_archive", 2, 4), ("demo.yaml", "synthetic_archive", 2 + 12, 6 + 12)],
)
def test_dry_run_of_the_full_dag(tmp_path, config, first, trainings, evaluations):
    proc = snakemake(
        tmp_path, "-n", "--cores", "8", "--resources", "gpu=1", "--configfile", str(ROOT / "config" / config)
    )
    out = proc.stdout + proc.stderr
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert stats[first] == "1" and stats["train"] == str(trainings) and stats["evaluate"] == str(evaluations)
    assert stats["html_report"] == "1"
    if config == "config.yaml":
        assert stats["vgg16_weights"] == "1"  # ImageNet weights fetched once, on the submit host


def _edges(mermaid: str) -> set[tuple[str, str]]:
    """Rule-name edges of a mermaid rule graph (Snakemake numbers and orders them arbitrarily)."""
    names = dict(re.findall(r"^\s*(id\d+)\[(\w+)\]", mermaid, flags=re.M))
    return {(names[a], names[b]) for a, b in re.findall(r"^\s*(id\d+) --> (id\d+)", mermaid, flags=re.M)}


def test_docs_dag_picture_is_current(tmp_path):
    proc = snakemake(tmp_path, "--rulegraph", "mermaid-js")
    page = (ROOT / "docs" / "output.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", page, flags=re.S).group(1)
    assert _edges(block) == _edges(proc.stdout), "docs/output.md: stale, see snakemake --rulegraph"
    assert len(_edges(block)) > 15


def _keys(schema, prefix=""):
    for name, sub in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        yield key
        yield from _keys(sub, key + ".")


def test_local_profile_dry_run(tmp_path):
    proc = snakemake(
        tmp_path,
        "-n",
        "--profile",
        str(ROOT / "profiles/local"),
        "--configfile",
        str(ROOT / "config/demo.yaml"),
    )
    out = proc.stdout + proc.stderr
    # the main run's 2 trainings and the demo's claims grid of 12
    assert re.search(r"^train\s+14$", out, flags=re.M) and "gpu=1" in out


def test_config_readme_is_generated_from_the_schema_and_current():
    from workflow_scripts import configdoc

    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    text = (ROOT / "config" / "README.md").read_text()
    assert text == configdoc.render(), "stale: python -m workflow_scripts.configdoc > config/README.md"
    assert [k for k in _keys(schema) if f"| `{k}` |" not in text] == []


def test_every_schema_key_has_a_description_and_a_default():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())

    def walk(node, prefix=""):
        for name, sub in node.get("properties", {}).items():
            yield prefix + name, sub
            yield from walk(sub, f"{prefix}{name}.")

    lacking = [k for k, sub in walk(schema) if not sub.get("description") or "default" not in sub]
    assert lacking == []


def test_version_is_one_and_in_the_changelog():
    import workflow_scripts

    version = re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), flags=re.M).group(1)
    assert workflow_scripts.__version__ == version
    assert f"## {version} " in (ROOT / "CHANGELOG.md").read_text()
    catalog = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())
    assert catalog["usage"]["software-stack-deployment"]["conda"] is True


def test_no_private_member_of_another_object_is_used():
    """Keras' private members (`_is_improvement`, `net._initial_epoch`, ...) change without notice between
    releases, and ours are private for a reason: the code uses public names only (an object's own `_x`
    through `self` is its business)."""
    import ast

    found = []
    for path in sorted((ROOT / "workflow_scripts").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert not found, found


def test_no_tracked_file_is_a_symlink():
    """A link to a venv or a path of one machine, committed by `git add -A` where `.gitignore` spelled the
    folder with a slash (which a link does not match), replaces that folder on every checkout."""
    listed = _run("git", "ls-files", "-s").stdout.splitlines()
    assert listed
    links = [line.split("\t", 1)[1] for line in listed if line.startswith("120000 ")]
    assert not links, links
