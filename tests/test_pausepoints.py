"""Pause points: armed by the environment, the K-th arrival writes its marker and waits to be killed."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from helpers import ROOT, kill_at_pause

from workflow_scripts import pausepoints

SCRIPT = (
    "import sys; from workflow_scripts.pausepoints import pause_point\n"
    "for i in range(1, 6):\n"
    "    print(i, flush=True); pause_point('step')\n"
    "print('ended', flush=True)\n"
)
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_the_kth_arrival_pauses_the_process_until_it_is_killed(tmp_path):
    log = tmp_path / "out.log"
    text = kill_at_pause([sys.executable, "-c", SCRIPT], "step@3", tmp_path / "m", ENV, log=log)
    assert text.startswith("step@3 pid=")
    assert log.read_text().split() == ["1", "2", "3"]  # stopped at the third arrival, never went on


def test_unarmed_or_armed_elsewhere_a_point_does_nothing(tmp_path, monkeypatch):
    for env in ({}, {pausepoints.PAUSE_AT: "other@1", pausepoints.MARKER: str(tmp_path / "m")}):
        clean = {k: v for k, v in ENV.items() if k != pausepoints.PAUSE_AT}
        out = subprocess.run([sys.executable, "-c", SCRIPT], env={**clean, **env}, capture_output=True,
                             text=True, timeout=60, check=True)  # fmt: skip
        assert out.stdout.split()[-1] == "ended"
    assert not (tmp_path / "m").exists()


def test_the_marker_appears_with_its_text_never_empty(tmp_path, monkeypatch):
    """The test kills the step the moment the marker exists: a marker created empty and written after could be
    read empty (it was, once, on a loaded machine). It must come into place whole, by one link."""
    marker = tmp_path / "m"
    monkeypatch.setenv(pausepoints.PAUSE_AT, "here@1")
    monkeypatch.setenv(pausepoints.MARKER, str(marker))
    monkeypatch.setattr(pausepoints, "_seen", pausepoints.Counter())
    seen = []
    real_link = os.link

    def link(src, dst):
        seen.append((marker.exists(), Path(src).read_text()))  # the marker's state just before it appears
        real_link(src, dst)

    class PausedError(Exception):
        pass

    def pause():
        raise PausedError

    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(pausepoints.signal, "pause", pause)
    with contextlib.suppress(PausedError):
        pausepoints.pause_point("here")
    assert seen == [(False, f"here@1 pid={os.getpid()}\n")]
    assert marker.read_text() == seen[0][1] and list(tmp_path.iterdir()) == [marker]
