"""Helpers the tests import: the repository root, the Snakemake runner, configs, tiny trainings, a kill at a
pause point, a tiny Keras model. (Fixtures are in conftest.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LABELS = "results/data/labels.csv"  # the labels rule's output, as a Snakemake target


def snakemake(
    workdir: Path, *args: str, timeout: int = 900, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run the real snakemake CLI on this repository's Snakefile in `workdir`; `env`: more variables."""
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe), "-s", str(ROOT / "Snakefile"), "-d", str(workdir), *args]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted(workdir.glob("logs/**/*.log")))
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}\n{logs}")
    return proc


def copy_config(tmp: Path, name: str = "demo.yaml") -> Path:
    dst = tmp / name
    shutil.copy(ROOT / "config" / name, dst)
    return dst


def full_config(**overrides) -> dict:
    """The workflow config with the schema's defaults, plus nested overrides {"model_a": {...}}."""
    import yaml

    from workflow_scripts.configcheck import with_defaults

    cfg = with_defaults({}, yaml.safe_load((ROOT / "config" / "schema.yaml").read_text()))
    for key, value in overrides.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
    return cfg


def train_cmd(out: Path, data: dict, cfg: dict, model: str = "A", seed: int = 3) -> list[str]:
    """The train step's command line, as the train rule runs it, on a data fixture (arrays and split CSVs)
    with its outputs under `out`, on two threads."""
    return [sys.executable, "-m", "workflow_scripts.train", "--model", model, "--seed", str(seed),
            "--config", json.dumps(cfg),
            "--train-images", data["arrays"]["train"], "--val-images", data["arrays"]["val"],
            "--train-split", data["splits"]["train"], "--val-split", data["splits"]["val"],
            "--model-out", str(out / "model.keras"), "--history", str(out / "history.csv"),
            "--info", str(out / "info.json"), "--resume-dir", str(out / "_resume"),
            "--threads", "2"]  # fmt: skip


def train_tiny(tmp_path: Path, tiny: dict, model: str, cfg: dict, seed: int = 1, **kw) -> tuple[Path, dict]:
    """Train `model` on the tiny_data fixture and publish its outputs as the train rule would; `kw` go to
    `train.train` (name, tensorboard)."""
    from workflow_scripts import train

    out = tmp_path / model
    resume = out / "_resume"
    info = train.train(model, cfg, tiny["arrays"], tiny["splits"], resume, seed, None, threads=2, **kw)
    train.write_outputs(
        resume, str(out / "model.keras"), str(out / "history.csv"), str(out / "info.json"), info
    )
    return out, info


def kill_at_pause(cmd: list[str], point: str, marker: Path, env: dict, limit_s: float = 600,
                  log: Path | None = None) -> str:  # fmt: skip
    """Run `cmd` with the pause point `point` ("NAME@K") armed; once the step has reached it (its marker
    file appears, the step then waiting), SIGKILL the whole process group, workers too, as an OOM killer or
    a pre-empted job would. Returns the marker's text. Fails if the step ended without reaching the point:
    the state the test is about was then never reached. `limit_s` only bounds a hung step."""
    import signal
    import time

    from workflow_scripts.pausepoints import MARKER, PAUSE_AT

    marker.unlink(missing_ok=True)
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=out, stderr=subprocess.STDOUT,
                            env={**env, PAUSE_AT: point, MARKER: str(marker)})  # fmt: skip
    try:
        deadline = time.monotonic() + limit_s
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"the step ended (status {proc.returncode}) without reaching {point}")
            if time.monotonic() > deadline:
                pytest.fail(f"the step did not reach {point} within {limit_s} s")
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if log:
            out.close()
    return marker.read_text()


def tiny_keras_model(path: Path, size: int = 16, channels: int = 3, heads: str = "ok") -> Path:
    """A Keras model saved at `path` that is built in a fraction of a second: the project's input
    (`image`, size x size x channels) and heads (`age`, `gender`) on a global average, or with
    heads="single" one unnamed output, heads="wide" an age head of 3 values per image."""
    from workflow_scripts.tfsetup import configure_tensorflow

    configure_tensorflow()
    import keras

    inp = keras.Input((size, size, channels), name="image")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inp))
    age = keras.layers.Dense(3 if heads == "wide" else 1, name="age")(x)
    gender = keras.layers.Dense(1, activation="sigmoid", name="gender")(x)
    keras.Model(inp, age if heads == "single" else {"age": age, "gender": gender}).save(path)
    return path


def local_dir_config(tmp_path: Path, images: Path) -> tuple[str, str]:
    """`--configfile` arguments of a config that reads `images` as `dataset.local_dir`."""
    import yaml

    cfg = tmp_path / "local.yaml"
    cfg.write_text(yaml.safe_dump({"dataset": {"local_dir": str(images), "md5": None}}))
    return ("--configfile", str(cfg))
