"""Download retry policy, attempt by attempt, with the network replaced by a scripted `_fetch_once`;
the real HTTP behaviour is tested against a local server in test_download.py."""

import errno
import inspect
import socket
import urllib.error

import pytest
import yaml
from helpers import ROOT

from workflow_scripts import download as dl
from workflow_scripts.download import DownloadError, _fatal_reason, download

ADVICE = (
    "If this machine has no internet access, download the file elsewhere and set the config key "
    "`dataset.local_archive` to its local path."
)


def _script(monkeypatch, steps):
    """Each call of _fetch_once plays the next step: an exception to raise, or bytes to write (success)."""
    calls = []

    def fake(url, part, timeout_s):
        step = steps[len(calls)]
        calls.append(part.exists())
        if isinstance(step, bytes):
            with open(part, "ab") as f:
                f.write(step)
            return
        if isinstance(step, tuple):  # (bytes written before the failure, exception)
            with open(part, "ab") as f:
                f.write(step[0])
            step = step[1]
        raise step

    monkeypatch.setattr(dl, "_fetch_once", fake)
    return calls


def _http(code, reason="x"):
    return urllib.error.HTTPError("u", code, reason, {}, None)


def _refused():
    return urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))


def _lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("download: ")]


def test_defaults_are_the_config_schemas():
    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())["properties"]["dataset"]["properties"]
    params = inspect.signature(download).parameters
    for arg, key in (("retries", "retries"), ("backoff_s", "backoff_s"), ("timeout_s", "timeout_s"),
                     ("give_up_s", "give_up_s")):  # fmt: skip
        assert params[arg].default == schema[key]["default"], arg
    assert params["local_key"].default == "dataset.local_archive"


def test_server_errors_then_success_with_each_retry_said(tmp_path, monkeypatch, capsys):
    calls = _script(monkeypatch, [_http(503), (b"ab", OSError("cut")), b"cd"])
    out = download("u", tmp_path / "a" / "b" / "f.tgz", retries=2, backoff_s=0)
    assert out.read_bytes() == b"abcd" and calls == [False, False, True]
    assert [p.name for p in out.parent.iterdir()] == ["f.tgz"]
    assert _lines(capsys) == [
        "download: attempt 1 failed (HTTP 503); retry 1 of 2 in 0 s",
        "download: attempt 2 failed (cut); retry 2 of 2 in 0 s",
    ]


def test_retries_are_counted_exactly(tmp_path, monkeypatch):
    calls = _script(monkeypatch, [_http(502)] * 5)
    with pytest.raises(DownloadError) as err:
        download("u", tmp_path / "f.tgz", retries=2, backoff_s=0)
    assert len(calls) == 3
    assert str(err.value) == f"u: cannot download (HTTP 502) after 3 attempts in 0 s. {ADVICE}"


@pytest.mark.parametrize("first", [_http(503), (b"ab", OSError("cut"))])
def test_a_refused_reconnection_after_data_arrived_is_retried(tmp_path, monkeypatch, first):
    # a server that answered (an error page or some bytes) and then refuses is restarting, not absent
    calls = _script(monkeypatch, [first, _refused(), b"xy"])
    out = download("u", tmp_path / "f.tgz", retries=3, backoff_s=0)
    assert len(calls) == 3 and out.read_bytes().endswith(b"xy")


def test_a_refused_first_connection_is_fatal_at_once(tmp_path, monkeypatch):
    calls = _script(monkeypatch, [_refused(), b"never"])
    with pytest.raises(DownloadError) as err:
        download("u", tmp_path / "f.tgz", retries=3, backoff_s=0, local_key="dataset.local_dir")
    assert len(calls) == 1
    assert str(err.value) == (
        "u: cannot download: connection refused: nothing listens at that address. "
        + ADVICE.replace("local_archive", "local_dir")
    )


@pytest.mark.parametrize("code", [400, 404, 499])
def test_client_errors_are_fatal_and_leave_nothing(tmp_path, monkeypatch, code):
    (tmp_path / "f.tgz.part").write_bytes(b"old")
    calls = _script(monkeypatch, [_http(code, "Nope"), b"never"])
    with pytest.raises(DownloadError) as err:
        download("u", tmp_path / "f.tgz", backoff_s=0)
    assert len(calls) == 1 and list(tmp_path.iterdir()) == []
    assert str(err.value) == f"u: HTTP {code} Nope. {ADVICE}"


def test_416_starts_over_only_when_there_is_a_part_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "f.tgz.part").write_bytes(b"complete-or-longer")
    calls = _script(monkeypatch, [_http(416), b"fresh"])
    assert download("u", tmp_path / "f.tgz", backoff_s=0).read_bytes() == b"fresh"
    assert calls == [True, False]
    assert _lines(capsys)[0] == "download: the server refused the resume range; starting over"
    _script(monkeypatch, [_http(416, "Range Not Satisfiable"), b"never"])
    with pytest.raises(DownloadError) as err:
        download("u", tmp_path / "g.tgz", backoff_s=0)
    assert str(err.value) == f"u: HTTP 416 Range Not Satisfiable. {ADVICE}"


def test_failure_reasons_word_for_word():
    dns = urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
    assert (
        _fatal_reason(dns, False)
        == "host name not resolved (Name or service not known); no network or a wrong URL"
    )
    net = OSError(errno.ENETUNREACH, "Network is unreachable")
    assert _fatal_reason(net, True) == "no route to the host (Network is unreachable)"
    assert _fatal_reason(urllib.error.URLError("timed out"), False) is None


def test_a_timeout_is_said_with_its_reason(tmp_path, monkeypatch, capsys):
    _script(monkeypatch, [urllib.error.URLError("timed out"), b"ok"])
    download("u", tmp_path / "f.tgz", retries=1, backoff_s=0)
    assert _lines(capsys) == ["download: attempt 1 failed (timed out); retry 1 of 1 in 0 s"]


def test_md5_in_either_case(tmp_path, monkeypatch):
    import hashlib

    _script(monkeypatch, [b"data"])
    out = download("u", tmp_path / "f.tgz", md5=hashlib.md5(b"data").hexdigest().upper())
    assert out.read_bytes() == b"data"
    _script(monkeypatch, [b"data"])
    with pytest.raises(
        DownloadError, match=r"^u: MD5 mismatch \(expected 0+, got [0-9a-f]{32}\); the partial"
    ):
        download("u", tmp_path / "g.tgz", md5="0" * 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.tgz"]


class _Answer:
    def __init__(self, body, status):
        self.body, self.status, self.headers = body, status, {"Content-Length": str(len(body))}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self, n):
        block, self.body = self.body[:n], self.body[n:]
        return block


def test_requests_name_the_client_and_resume_with_a_range(tmp_path, monkeypatch, caplog):
    import logging

    seen = []

    def urlopen(req, timeout):
        seen.append((dict(req.header_items()), timeout))
        return _Answer(b"0123456789"[int(req.get_header("Range", "bytes=0-")[6:-1]) :], 206)

    monkeypatch.setattr(dl.urllib.request, "urlopen", urlopen)
    (tmp_path / "f.tgz.part").write_bytes(b"0123")
    assert download("http://h/f", tmp_path / "f.tgz", timeout_s=7).read_bytes() == b"0123456789"
    assert seen == [({"User-agent": "utkface-repro", "Range": "bytes=4-"}, 7)]
    # a server that answers 200 to a Range request sends everything: start again from zero
    monkeypatch.setattr(dl.urllib.request, "urlopen", lambda req, timeout: _Answer(b"whole", 200))
    (tmp_path / "g.tgz.part").write_bytes(b"wh")
    with caplog.at_level(logging.INFO, logger="utkface.download"):
        assert download("http://h/g", tmp_path / "g.tgz").read_bytes() == b"whole"
    assert "server ignored the Range request; downloading from the start" in [
        r.getMessage() for r in caplog.records
    ]
