"""The DAG tells the whole truth: every job sees only its declared inputs (shadow folders), the workflow
works as a module of someone else's workflow, and jobs use the Python that runs Snakemake."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import ROOT, snakemake

pytestmark = pytest.mark.slow

TINY = {
    "synthetic": {"enabled": True, "n_images": 240},
    "image_size": 32,
    "split": {"train_val_size": 160},
    "train": {"epochs": 1, "resources": {"threads": 2, "mem_mb": 2000, "runtime": 30}},
    "model_a": {"batch_size": 16},
    "model_b": {"weights": "none", "batch_size": 16, "epochs": 2, "frozen_epochs": 1},
    "dataset": {"md5": None},
    "export": {"formats": ["keras", "onnx"]},  # the rule runs shadowed either way; two formats fewer
}


def test_every_job_runs_in_a_shadow_folder_with_only_its_declared_inputs(tmp_path):
    """`debug.shadow: minimal` runs each job in its own folder holding links to its declared inputs and
    nothing else from results/: any undeclared read fails the job, and so this test."""
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "debug": {"shadow": "minimal"}}))
    proc = snakemake(tmp_path, "-c2", "--resources", "gpu=1", "--configfile", str(cfg), timeout=1200)
    out = proc.stdout + proc.stderr
    assert (tmp_path / "results/report/index.html").stat().st_size > 10_000
    # every rule of the DAG ran, each in a shadow folder
    for rule in ("synthetic_archive", "extract_archive", "labels", "splits", "preprocess", "train",
                 "evaluate", "learning_curves", "extra_figure", "comparison", "html_report"):  # fmt: skip
        assert f"rule {rule}:" in out, rule
    # the report shows the counts of the CSVs it was handed
    html = (tmp_path / "results/report/index.html").read_text()
    labelled = len(pd.read_csv(tmp_path / "results/data/labels.csv"))
    assert f"{labelled} labelled" in html


def test_every_rule_takes_the_shadow_setting():
    text = "".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    rules = re.findall(r"^rule (\w+):", text, flags=re.M)
    shadowed = re.findall(r"^    shadow:\n        SHADOW$", text, flags=re.M)
    assert len(rules) == len(shadowed) > 10


def test_a_shadow_folder_really_hides_undeclared_files(tmp_path):
    """The mechanism the test above relies on, shown failing on a job that reads a file it did not declare."""
    (tmp_path / "secret.txt").write_text("x")
    (tmp_path / "Snakefile").write_text(
        'rule peek:\n    output: "out.txt"\n    shadow: "minimal"\n    shell: "cat secret.txt > {output}"\n'
    )
    exe = Path(sys.executable).with_name("snakemake")
    proc = subprocess.run([str(exe), "-c1"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "secret.txt" in proc.stderr
    assert not (tmp_path / "out.txt").exists()


def _outer_workflow(tmp_path: Path) -> Path:
    """Someone else's workflow in a folder of its own, using ours as a module."""
    outer = tmp_path / "outer"
    outer.mkdir()
    (outer / "utkface.yaml").write_text(yaml.safe_dump(TINY))
    (outer / "Snakefile").write_text(
        textwrap.dedent(
            f"""
            configfile: "utkface.yaml"


            module utkface:
                snakefile:
                    "{ROOT / "Snakefile"}"
                config:
                    config


            use rule * from utkface as utkface_*


            rule mine:
                input:
                    expand(rules.utkface_train.output.history, model="A", variant="study", seed=42),
                output:
                    "mine/epochs.txt",
                shell:
                    "wc -l < {{input}} > {{output}}"
            """
        )
    )
    return outer


def test_usable_as_a_module_from_another_folder_without_pythonpath(tmp_path):
    outer = _outer_workflow(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # a PATH without our venv: the jobs must still find the Python that runs Snakemake
    env["PATH"] = "/usr/bin:/bin"
    exe = Path(sys.executable).with_name("snakemake")
    targets = ["mine/epochs.txt", "results/data/arrays/test_images.npy"]
    proc = subprocess.run(
        [str(exe), "-c2", "--resources", "gpu=1", "--", *targets],
        cwd=outer,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    # the rules' outputs land in the outer workflow's working directory, under their own names
    assert (outer / "mine/epochs.txt").read_text().strip() == "2"  # header + 1 epoch
    assert np.load(outer / "results/data/arrays/test_images.npy", mmap_mode="r").shape[1:] == (32, 32, 3)
    out = proc.stderr + proc.stdout
    assert "rule utkface_labels:" in out
    assert "not present in the Snakefile" not in out  # our local rules stay local under new names
    assert not (ROOT / "mine").exists()


def test_jobs_use_the_python_running_snakemake_not_the_first_on_path(tmp_path):
    """A new user's `.venv/bin/snakemake` without activating the venv, with another `python` first on PATH
    that lacks our packages."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text("#!/bin/sh\necho 'not the Python running Snakemake' >&2\nexit 3\n")
    (fake / "python").chmod(0o755)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**TINY, "synthetic": {"enabled": True, "n_images": 40}}))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{fake}:/usr/bin:/bin"
    exe = Path(sys.executable).with_name("snakemake")
    proc = subprocess.run(
        [str(exe), "-s", str(ROOT / "Snakefile"), "-c1", "--configfile", str(tmp_path / "c.yaml"),
         "--", "results/data/labels.csv"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(pd.read_csv(tmp_path / "results/data/labels.csv")) > 30


def test_no_script_builds_a_results_path():
    # cli.py is the user's `utkface` command, not a job: `--model A` looks in ./results like a user would
    offenders = [
        p.name
        for p in (ROOT / "workflow_scripts").glob("*.py")
        for line in p.read_text().splitlines()
        if ("results/" in line or '"results"' in line) and p.name != "cli.py"
    ]
    assert offenders == []


def test_a_training_that_needs_a_gpu_and_sees_none_fails_at_once_naming_the_key(tmp_path):
    """As the SLURM profile runs it (`train={require_gpu: true}` through --config): no GPU here, so the
    job must stop in its first seconds with the key on the terminal, not train on the CPU."""
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(TINY))
    proc = snakemake(
        tmp_path, "-c2", "--configfile", str(tmp_path / "c.yaml"), "--config", "train={require_gpu: true}",
        "--", "results/models/A/study/seed_42/model.keras", check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "ERROR: train.require_gpu is set but TensorFlow" in proc.stderr and "sees no GPU" in proc.stderr
    log = (tmp_path / "logs/train/A_study_seed_42.log").read_text()
    assert "Epoch 1" not in log and "phase train" not in log  # failed before any training step


def _planned(tmp_path, cfg, *args):
    """(inputs, outputs) of every job that a forced dry-run plans, each a set of paths as Snakemake names
    them."""
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "-n", "-F", "--configfile", str(tmp_path / "c.yaml"), *args)
    files = {"input": set(), "output": set()}
    for line in proc.stdout.splitlines():
        kind, _, paths = line.strip().partition(": ")
        if kind in files:
            files[kind].update(paths.split(", "))
    assert len(files["output"]) > 20, proc.stdout[-3000:]
    return files["input"], files["output"]


def _photos(tmp_path):
    """A user's folder of photos, and a snapshot of it (names, bytes, modes) to compare with later."""
    photos = tmp_path / "my_photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes((ROOT / "docs/predict.png").read_bytes())
    photos.chmod(0o755)

    def snapshot():
        return photos.stat().st_mode, {p.name: (p.read_bytes(), p.stat().st_mode) for p in photos.iterdir()}

    return photos, snapshot


def test_no_rule_writes_a_users_predict_folder_it_is_only_read(tmp_path):
    photos, _ = _photos(tmp_path)
    inputs, outputs = _planned(tmp_path, {**TINY, "predict": {"input": str(photos)}})
    assert str(photos) in inputs  # predicted on ...
    assert not any(o == str(photos) or o.startswith(f"{photos}/") for o in outputs)  # ... never written
    assert not any("demo_scenes" in o for o in outputs)
    # the demo's scenes are drawn into a folder of our own, which is what predict then reads
    inputs, outputs = _planned(tmp_path, {**TINY, "predict": {"scenes": 2}})
    assert "results/scenes" in outputs and "results/scenes" in inputs


def test_scenes_and_a_users_folder_together_are_refused_and_the_folder_left_alone(tmp_path):
    """The data loss this guards against: `demo_scenes` once owned `predict.input`, and `-F`/`-R` replaced a
    user's photos with drawn scenes (and left the folder mode 700)."""
    photos, snapshot = _photos(tmp_path)
    before = snapshot()
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**TINY, "predict": {"input": str(photos), "scenes": 2}}))
    for force in ("-F", "-R"):
        proc = snakemake(
            tmp_path, "-c1", "--configfile", str(tmp_path / "c.yaml"), force, "demo_scenes", check=False
        )
        assert proc.returncode != 0
        assert "config keys `predict.input` and `predict.scenes` are both set; keep one" in proc.stderr
        assert snapshot() == before
    # drawing the scenes for real writes our own folder only
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**TINY, "predict": {"scenes": 2}}))
    snakemake(tmp_path, "-c1", "--configfile", str(tmp_path / "c.yaml"), "-F", "demo_scenes")
    drawn = sorted(
        p.name for p in (tmp_path / "results/scenes").iterdir() if p.name != ".snakemake_timestamp"
    )
    assert drawn == [
        "scene_00.jpg",
        "scene_01.jpg",
        "scenes.json",
    ]
    assert snapshot() == before


def test_the_report_and_export_rules_hand_over_json_their_scripts_accept(tmp_path):
    """html_report's --inputs and export's --card, as a dry run prints the commands, pass the scripts'
    own checks, holding the paths the rules name (a renamed input would fail here, not in a real run)."""
    import json
    import shlex

    from workflow_scripts.cli import card_facts
    from workflow_scripts.report import read_inputs

    proc = snakemake(tmp_path, "-n", "-p", "--configfile", str(ROOT / "config/demo.yaml"))
    shown = "Shell command: python -m "
    out = proc.stdout + proc.stderr
    commands = [shlex.split(line.split(": ", 1)[1]) for line in out.splitlines() if line.startswith(shown)]
    reports = [c for c in commands if c[2] == "workflow_scripts.report"]
    exports = [c for c in commands if c[2:4] == ["workflow_scripts.cli", "export"]]
    assert len(reports) == 1 and len(exports) == 2, out[-3000:]
    files = read_inputs(reports[0][reports[0].index("--inputs") + 1])
    assert files["comparison"].endswith("comparison.csv") and files["difference"].endswith(".json")
    assert len(files["info"]) == 2 and files["galleries"] and files["claims_table"]
    for c in exports:
        facts = card_facts(c[c.index("--card") + 1])
        assert facts["metrics"].endswith("/test/metrics.json") and facts["synthetic"] is True
        assert (
            facts["config"]["image_size"]
            == yaml.safe_load((ROOT / "config/demo.yaml").read_text())["image_size"]
        )
        assert json.dumps(facts["config"])  # the training config itself, not its JSON text
