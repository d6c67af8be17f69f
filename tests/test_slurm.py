"""The SLURM profile on a real one-node SLURM cluster (slurmctld, slurmd, slurmdbd, MariaDB, munge).

tests/slurm/cluster.sh starts the daemons and stops them (by PID) after this module. The profile used is
profiles/slurm/config.yaml as shipped, with only its sizes shrunk to fit this machine and the plugin's
first status check brought forward.
"""

import os
import re
import shutil
import subprocess
import time

import pytest
import yaml
from helpers import ROOT, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
TINY = """image_size: 32
synthetic: {n_images: 300}
split: {train_val_size: 200}
model_a: {epochs: 2, batch_size: 16}
model_b: {epochs: 2, frozen_epochs: 1, batch_size: 16}
predict: {input: null, scenes: 0}
export: {formats: []}
evaluate: {external: []}   # the demo's other test set: the same evaluate rule, two jobs more
# the demo's grid overrides set back to the tiny run's own: the main run is the grid's baseline
claims:
  only: [a_mse_loss]
  seeds: 2
  data_sizes: []
  overrides: {model_a: {epochs: 2}, model_b: {epochs: 2, frozen_epochs: 1}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = [
        b for b in ("slurmctld", "slurmd", "slurmdbd", "munged", "mariadbd", "sbatch") if not shutil.which(b)
    ]
    if os.geteuid() != 0 or missing:
        reason = f"needs root and Debian's Slurm packages (missing: {missing or 'root'})"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm-state")
    start = subprocess.run(
        ["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True, timeout=180
    )
    assert start.returncode == 0, start.stdout[-3000:] + start.stderr[-3000:]
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(state / "slurm.conf")
    yield state
    subprocess.run(["bash", str(CLUSTER), "stop", str(state)], capture_output=True, text=True, timeout=120)
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old


def _profile(tmp_path):
    """The shipped profile with sizes that fit a 2-core CI node."""
    prof = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    prof["default-resources"]["mem_mb"] = 1000
    prof["set-resources"]["train"].update(mem_mb=3000, cpus_per_gpu=2, runtime=30)
    prof["set-resources"]["evaluate"].update(mem_mb=2000)
    prof["set-threads"]["train"] = 2
    prof["slurm-init-seconds-before-status-checks"] = 2
    prof["seconds-between-status-checks"] = 3
    # the test cluster declares a GPU in gres but has no device: a real site keeps the shipped line
    assert prof["config"] == ["train={require_gpu: true}"]
    prof["config"] = ["train={require_gpu: false}"]
    d = tmp_path / "profile"
    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump(prof))
    (tmp_path / "tiny.yaml").write_text(TINY)
    return d


def _run_profile(tmp_path, *extra, check=True):
    """The demo (tiny) through the adapted SLURM profile; `extra`: more config files, then `--` targets."""
    configs = [str(ROOT / "config/demo.yaml"), str(tmp_path / "tiny.yaml")]
    args = ["--profile", str(_profile(tmp_path)), "--configfile", *configs, *extra]
    return snakemake(tmp_path, *args, timeout=900, check=check)


def _sacct():
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-o", "JobID,Comment,AllocTRES,State"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        dict(zip(["id", "comment", "tres", "state"], line.split("|"), strict=True))
        for line in out.splitlines()
        if line.strip()
    ]


def _new_jobs(before: set[str], n: int, limit_s: float = 120) -> list[dict[str, str]]:
    """The jobs sacct lists beyond `before`, once `n` of them are there in a final state: slurmdbd records
    jobs asynchronously, so right after Snakemake ends some may be missing or still RUNNING (bounded wait)."""
    deadline = time.monotonic() + limit_s
    while True:
        jobs = [j for j in _sacct() if j["id"] not in before]
        final = [j for j in jobs if j["state"] not in ("PENDING", "RUNNING", "COMPLETING")]
        if len(final) >= n or time.monotonic() > deadline:
            return jobs
        time.sleep(1)


def test_demo_and_a_claims_grid_run_through_the_slurm_profile(cluster, tmp_path):
    """The demo (tiny) with a tiny claims grid: each (model, variant, seed) its own job holding one GPU."""
    before = {j["id"] for j in _sacct()}
    _run_profile(tmp_path)
    assert (tmp_path / "results/report/index.html").exists()
    assert "study_b_beats_a" in (tmp_path / "results/claims/claims.csv").read_text()
    for m in "AB":
        assert (tmp_path / f"results/eval/{m}/study/seed_7/test/metrics.json").exists()
    # trainings: the main run's 2, the baselines' second seed (2) and the variant's 2 seeds
    jobs = _new_jobs(before, 6 + 8)
    train = [j for j in jobs if "train" in j["comment"]]
    other = [j for j in jobs if "train" not in j["comment"]]
    assert len(train) == 6 and all("gres/gpu=1" in j["tres"] for j in train), jobs
    # (the executor's comment: rule_train_wildcards_<model>_<variant>_<seed>)
    variants = sorted(re.search(r"_wildcards_[AB]_(\w+)_\d+$", j["comment"]).group(1) for j in train)
    assert variants == ["a_mse_loss"] * 2 + ["study"] * 4, jobs
    # evaluate: 2 models x (val, test), and the grid's new runs on test
    assert len(other) == 4 + 4 and all(
        "evaluate" in j["comment"] and "gpu" not in j["tres"] for j in other
    ), jobs
    assert all(j["state"] == "COMPLETED" for j in jobs)
    # the data, table and report steps ran on the submit host, not as jobs
    local = ("labels", "preprocess", "html_report", "claims_table", "claims_page")
    assert not [j for j in jobs if any(r in j["comment"] for r in local)]


def test_a_job_failing_on_the_cluster_fails_the_workflow_naming_rule_and_log(cluster, tmp_path):
    (tmp_path / "bad.yaml").write_text("model_a: {batch_size: 100000}\n")  # more than the training set
    proc = _run_profile(
        tmp_path, str(tmp_path / "bad.yaml"), "--", "results/models/A/study/seed_7/model.keras", check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error in rule train" in out
    assert "logs/train/A_study_seed_7.log" in out
    assert "fewer than one batch" in (tmp_path / "logs/train/A_study_seed_7.log").read_text()


def test_dry_run_shows_the_sbatch_resources_of_every_job(tmp_path):
    proc = snakemake(tmp_path, "-n", "--profile", str(ROOT / "profiles/slurm"), timeout=300)
    out = proc.stdout + proc.stderr
    blocks = out.split("\nrule ")
    train = [b for b in blocks if b.startswith("train:")]
    assert len(train) == 2
    for b in train:
        assert "gpu=1" in b and "cpus_per_gpu=8" in b and "mem_mb=32000" in b and "runtime=720" in b
        assert "slurm_partition=gpu" in b and "slurm_account=" in b
    evaluate = [b for b in blocks if b.startswith("evaluate:")]
    assert len(evaluate) == 4 and all("gpu=" not in b and "slurm_partition=gpu" in b for b in evaluate)
