"""The prepared GPU check runs end to end (on the CPU here, at 32 px): every setting prints its numbers, the
projection is the sum of the fastest settings, and the time budget is honoured. The data bench compares
the best runs of each side and prints its ceiling."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

pytestmark = pytest.mark.slow

ROW = re.compile(
    r"^\s+([AB])\s+(train|frozen|unfrozen)\s+(float32|mixed_float16)\s+(on|off)\s+(\d+)\s+(\d+)\s+(\S+)\s+([\d.]+)$"
)


def _gpu_check(*args, env=None):
    cmd = [sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--allow-cpu", "--size", "32", *args]
    env = {**os.environ, **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True, env=env).stdout


def test_gpu_check_measures_every_setting_and_projects_the_study():
    out = _gpu_check("--steps", "2", "--warmup", "1", "--batch", "8")
    rows = [m.groups() for line in out.splitlines() if (m := ROW.match(line))]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (model, phase, policy, xla)
        for policy in ("float32", "mixed_float16")
        for xla in ("off", "on")
        for model, phase in (("A", "train"), ("B", "frozen"), ("B", "unfrozen"))
    ]  # XLA really on when asked: the augmentation that Keras cannot compile went to tf.data
    assert all(int(r[4]) > 0 and int(r[5]) > 0 for r in rows)
    best = {}
    for r in rows:
        best[r[0], r[1]] = min(best.get((r[0], r[1]), float("inf")), float(r[7]))
    total = float(re.search(r"best setting of each part: ([\d.]+) min", out).group(1))
    assert total == pytest.approx(sum(best.values()), abs=0.2)
    assert "epochs 100 for A, 5 + 45 for B" in out


def test_gpu_check_runs_the_same_models_on_jax_where_there_is_no_tensorflow():
    """The lent GPU machines have JAX, not TensorFlow: Keras on JAX, every step compiled by XLA."""
    jax = Path(sys.executable).parents[1] / "jax-0.10.2"  # ./run.sh test puts it there
    if not (jax / "jax").is_dir():
        pytest.fail(f"no JAX in {jax}: run the tests with ./run.sh test, which installs it")
    env = {"KERAS_BACKEND": "jax", "PYTHONPATH": str(jax)}
    out = _gpu_check("--steps", "2", "--warmup", "1", "--batch", "8", env=env)
    assert out.startswith("Keras on JAX 0.10.2, GPUs: []")
    rows = [m.groups() for line in out.splitlines() if (m := ROW.match(line))]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (model, phase, policy, "on")
        for policy in ("float32", "mixed_float16")
        for model, phase in (("A", "train"), ("B", "frozen"), ("B", "unfrozen"))
    ]  # "on": the augmentation Keras cannot compile went to the input, so XLA really compiled the step
    assert all(int(r[4]) > 0 and int(r[5]) > 0 and r[6] == "nan" for r in rows)  # no GPU: no peak
    assert "projected full study" in out


def test_gpu_check_starts_no_setting_after_its_budget():
    out = _gpu_check("--budget-s", "0")
    assert out.count("skipped: time budget") == 12 and "projected" not in out


BEST_AND_RANGE = r"\s+([\d,]+) \(([\d,]+)-([\d,]+)\)"
DATA_ROW = re.compile(
    r"^\s+(\d+)\s+(bilinear|nearest)\s+(\d+)"
    + BEST_AND_RANGE * 2
    + r"\s+(\S+)"
    + BEST_AND_RANGE
    + r"\s+(\S+)" * 4
    + "$"
)


def _number(text: str) -> float:
    return float(text.replace(",", "").rstrip("%"))


def test_data_bench_compares_the_best_runs_against_a_measured_ceiling():
    cmd = [sys.executable, str(ROOT / "bench" / "bench_data.py"), "--sizes", "120", "--repeat", "2"]
    cmd += ["--workers", "1", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True).stdout
    rows = [m.groups() for line in out.splitlines() if (m := DATA_ROW.match(line))]
    resizes = ("bilinear", "nearest")
    assert [r[:3] for r in rows] == [("120", resize, workers) for resize in resizes for workers in "12"]
    assert re.search(r"# 120 photo JPEGs of 200x200: a full decode takes 0\.\d+ ms each", out)
    for r in rows:
        ours, lo, hi, base, base_lo, base_hi = map(_number, r[3:9])
        ratio, ceiling, ceiling_lo, ceiling_hi, ceiling_ratio, share = map(_number, r[9:15])
        assert ours == hi >= lo > 0 and base == base_hi >= base_lo > 0  # the best run of each counts
        assert ceiling == ceiling_hi >= ceiling_lo > 0
        assert ratio == pytest.approx(ours / base, abs=0.01)
        assert ceiling_ratio == pytest.approx(ceiling / base, abs=0.01)
        assert share == pytest.approx(100 * ours / ceiling, abs=0.6)
        assert _number(r[15]) + _number(r[16]) in (99, 100, 101)


def test_the_data_ceiling_counts_only_the_images_that_decode(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_data

    bench_data.photo_jpegs(tmp_path / "img", 5)
    truncated = sorted((tmp_path / "img").glob("*.jpg"))[2]
    truncated.write_bytes(truncated.read_bytes()[:300])  # cut inside the entropy-coded data
    for workers in (1, 2):
        done, seconds = bench_data.ceiling_run(tmp_path / "img", 32, "bilinear", workers)
        assert done == 4 and seconds > 0
