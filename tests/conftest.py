"""Shared fixtures: small synthetic datasets, a Range-capable HTTP server, Snakemake runner."""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workflow_scripts import synthetic  # noqa: E402


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """60 synthetic faces plus the real set's quirks, in a folder."""
    d = tmp_path_factory.mktemp("synth") / "UTKFace"
    synthetic.generate(d, 60, seed=3, quirks=True)
    return d


@pytest.fixture(scope="session")
def synth_archive(tmp_path_factory, synth_dir) -> Path:
    out = tmp_path_factory.mktemp("archive") / "UTKFace.tar.gz"
    synthetic.pack(synth_dir, out)
    return out


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves `server.files` (name -> bytes) with Range support (unless `ignore_range`); `server.cut`
    truncates the first replies, `server.fail_with` answers the first requests with those HTTP errors,
    `server.auth` (user, password) answers 401 to a request without that HTTP Basic auth, and
    `server.redirects` (name -> URL) answers those names with a 302."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        srv = self.server
        auth = self.headers.get("Authorization")
        srv.requests.append({"path": self.path, "range": self.headers.get("Range"), "auth": auth})
        data = srv.files.get(self.path.lstrip("/"))
        if srv.auth and auth != "Basic " + base64.b64encode(":".join(srv.auth).encode()).decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.lstrip("/") in srv.redirects:
            self.send_response(302)
            self.send_header("Location", srv.redirects[self.path.lstrip("/")])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if srv.fail_with:  # scripted failures first, e.g. [503, 503]
            self.send_error(srv.fail_with.pop(0))
            return
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and not srv.ignore_range:
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.cut and srv.cut > 0:
            srv.cut -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def http_server():
    """A real HTTP server on 127.0.0.1 (a free port), stopped after the test."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.cut, srv.fail_with, srv.ignore_range = {}, [], 0, [], False
    srv.auth, srv.redirects = None, {}
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


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


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """240 synthetic faces as 32 px train/val/test arrays plus split CSVs."""
    from workflow_scripts.labels import Pixels, build_labels, write_csv
    from workflow_scripts.preprocess import preprocess
    from workflow_scripts.splits import make_splits

    root = tmp_path_factory.mktemp("tiny")
    synthetic.generate(root / "img", 240, seed=5, quirks=False, workers=2)
    labels, _ = build_labels(root / "img", threads=2, pixels=Pixels(root / "pixels.npy", 32))
    write_csv(labels, root / "labels.csv")
    parts = make_splits(labels, 160, 0.25, None, [0, 3, 10, 20, 30, 40, 50, 60, 70, 80, 117], seed=5)
    out = {"root": root, "arrays": {}, "splits": {}}
    for name, df in parts.items():
        write_csv(df, root / f"{name}.csv")
        preprocess(root / "labels.csv", root / "pixels.npy", root / f"{name}.csv", root / f"{name}.npy")
        out["arrays"][name], out["splits"][name] = str(root / f"{name}.npy"), str(root / f"{name}.csv")
    return out


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The README's demo, run once by the real snakemake CLI: --cores 4 would allow two trainings at
    once, so only `--resources gpu=1` keeps them apart."""
    wd = tmp_path_factory.mktemp("demo")
    proc = snakemake(
        wd,
        "--cores",
        "4",
        "--resources",
        "gpu=1",
        "--configfile",
        str(ROOT / "config" / "demo.yaml"),
        timeout=1800,
    )
    (wd.parent / f"{wd.name}-terminal.txt").write_text(proc.stdout + proc.stderr)  # what a user saw
    return wd


@pytest.fixture(scope="session")
def demo_terminal(demo_run) -> str:
    """What the demo run printed on the terminal (Snakemake's lines and the jobs')."""
    return (demo_run.parent / f"{demo_run.name}-terminal.txt").read_text()


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
