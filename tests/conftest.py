"""Shared fixtures: small synthetic datasets, a Range-capable HTTP server, the demo run. (Helper functions
the tests import are in helpers.py.)"""

from __future__ import annotations

import base64
import http.server
import threading
from pathlib import Path

import pytest
from helpers import ROOT, snakemake

from workflow_scripts import synthetic


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


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """240 synthetic faces as 32 px train/val/test arrays plus split CSVs."""
    from workflow_scripts.labels import Pixels, build_labels
    from workflow_scripts.labeltable import write_csv
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
