"""The conda environments of `--sdm conda` (no conda channel is reachable here, so: what can be checked
offline): they parse, hold every package the jobs import, agree with the pins of pyproject.toml, and the
GPU one carries a CUDA build of TensorFlow."""

import ast
import re
import sys

import pytest
import yaml
from helpers import ROOT

# import name -> distribution name, where they differ
DIST = {
    "PIL": "pillow",
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
    "ai_edge_litert": "ai-edge-litert",
    "skimage": "scikit-image",
}
ENVS = ["workflow.yaml", "workflow-gpu.yaml"]


def _pip_deps(env: dict) -> dict[str, str]:
    deps = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {re.split(r"[=<>\[; ]", d, maxsplit=1)[0].lower(): d for d in deps}


def _job_imports() -> set[str]:
    """Top-level names of every third-party module the workflow's package imports (at any depth)."""
    names = set()
    for path in (ROOT / "workflow_scripts").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "workflow_scripts"}


def _pyproject_pins() -> dict[str, str]:
    # the [project] dependencies array (tomllib is 3.11+, and we support 3.10)
    block = re.search(r"^dependencies = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.S | re.M)
    deps = re.findall(r'^\s*"([^"]+)",', block.group(1), flags=re.M)
    return {re.split(r"[=<>\[; ]", d, maxsplit=1)[0].lower(): d.split(";")[0].strip() for d in deps}


@pytest.mark.parametrize("name", ENVS)
def test_env_holds_every_package_the_jobs_import(name):
    env = yaml.safe_load((ROOT / "envs" / name).read_text())
    assert "conda-forge" in env["channels"]
    deps = _pip_deps(env)
    tf = "tensorflow" if name == "workflow-gpu.yaml" else "tensorflow-cpu"
    have = {*deps, "tensorflow"} if tf in deps else set(deps)
    missing = [n for n in _job_imports() if DIST.get(n, n).lower() not in have]
    assert missing == [], f"envs/{name} lacks {missing}"


@pytest.mark.parametrize("name", ENVS)
def test_env_pins_agree_with_pyproject(name):
    pins = _pyproject_pins()
    deps = _pip_deps(yaml.safe_load((ROOT / "envs" / name).read_text()))
    for dist, spec in deps.items():
        if dist == "tensorflow":  # the GPU env's CUDA build, pinned like the CPU one
            assert spec == "tensorflow[and-cuda]==" + pins["tensorflow-cpu"].split("==")[1]
            continue
        assert spec == pins[dist], f"envs/{name}: {spec} but pyproject.toml has {pins[dist]}"


def test_gpu_env_is_the_training_env_when_a_gpu_is_required():
    train = (ROOT / "rules/train.smk").read_text().split("rule train:")[1]
    assert "TRAIN_ENV" in train
    common = (ROOT / "rules/common.smk").read_text()
    assert '"../envs/workflow-gpu.yaml" if config["train"]["require_gpu"]' in common
    assert (ROOT / "envs/workflow-gpu.yaml").exists()
