import errno
import socket
import threading
import urllib.error

import pytest

from workflow_scripts import download as dl
from workflow_scripts.download import DownloadError, _fatal_reason, download
from workflow_scripts.fileio import md5sum

DATA = bytes(range(256)) * 4000  # ~1 MB


def _md5(data):
    import hashlib

    return hashlib.md5(data).hexdigest()


def test_success_with_checksum(tmp_path, http_server):
    http_server.files["UTKFace.tar.gz"] = DATA
    out = download(f"{http_server.url}/UTKFace.tar.gz", tmp_path / "a.tar.gz", md5=_md5(DATA))
    assert out.read_bytes() == DATA
    assert not (tmp_path / "a.tar.gz.part").exists()


def test_resume_after_a_cut_uses_http_range(tmp_path, http_server):
    http_server.files["f.tar.gz"] = DATA
    http_server.cut = 1  # the first reply stops halfway and the connection closes
    out = download(
        f"{http_server.url}/f.tar.gz", tmp_path / "f.tar.gz", md5=_md5(DATA), retries=2, backoff_s=0
    )
    assert md5sum(out) == _md5(DATA)
    assert http_server.requests[0]["range"] is None
    assert http_server.requests[1]["range"] == f"bytes={len(DATA) // 2}-"


def test_resume_from_a_part_file_left_by_an_earlier_run(tmp_path, http_server):
    http_server.files["f.tar.gz"] = DATA
    (tmp_path / "f.tar.gz.part").write_bytes(DATA[:1000])
    download(f"{http_server.url}/f.tar.gz", tmp_path / "f.tar.gz", md5=_md5(DATA))
    assert http_server.requests[0]["range"] == "bytes=1000-"
    assert (tmp_path / "f.tar.gz").read_bytes() == DATA


def test_checksum_mismatch_leaves_nothing(tmp_path, http_server):
    http_server.files["f.tar.gz"] = DATA
    with pytest.raises(DownloadError, match="MD5 mismatch") as err:
        download(f"{http_server.url}/f.tar.gz", tmp_path / "f.tar.gz", md5="0" * 32)
    assert "dataset.local_archive" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_404_fails_fast_naming_the_local_key(tmp_path, http_server):
    with pytest.raises(DownloadError, match="HTTP 404") as err:
        download(f"{http_server.url}/missing.tar.gz", tmp_path / "f.tar.gz", retries=5, backoff_s=30)
    assert "dataset.local_archive" in str(err.value)
    assert len(http_server.requests) == 1  # a 404 is not retried
    assert list(tmp_path.iterdir()) == []


def test_refused_connection_fails_at_once_without_backoff(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits = []
    monkeypatch.setattr("workflow_scripts.download.time.sleep", waits.append)
    with pytest.raises(DownloadError, match="connection refused") as err:
        download(f"http://127.0.0.1:{port}/f.tar.gz", tmp_path / "f.tar.gz", retries=5, backoff_s=30)
    assert waits == []  # no 30 s backoff, nor any other
    assert "after" not in str(err.value)  # given up at once, not after attempts
    assert "dataset.local_archive" in str(err.value)


@pytest.mark.parametrize(
    "err,fatal",
    [
        (urllib.error.URLError(socket.gaierror(-2, "Name or service not known")), "host name not resolved"),
        (urllib.error.URLError(OSError(errno.ENETUNREACH, "Network is unreachable")), "no route"),
        (urllib.error.URLError(OSError(errno.EHOSTUNREACH, "No route to host")), "no route"),
        (urllib.error.URLError(ConnectionRefusedError(111, "refused")), "connection refused"),
        (urllib.error.URLError(TimeoutError("timed out")), None),
        (ConnectionResetError(104, "reset"), None),
    ],
)
def test_which_failures_are_fatal_at_once(err, fatal):
    got = _fatal_reason(err, received=False)
    assert (got is None) if fatal is None else (fatal in got)
    # once bytes have arrived, a refused reconnection is worth a retry (a server restart)
    if isinstance(getattr(err, "reason", None), ConnectionRefusedError):
        assert _fatal_reason(err, received=True) is None


@pytest.fixture()
def silent_server():
    """Accepts connections and never answers (a hung server or a black-holing proxy)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns, stop = [], threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except TimeoutError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


def test_a_silent_server_is_retried_within_the_time_bound_and_each_retry_is_shown(
    tmp_path, silent_server, capsys, monkeypatch
):
    # a clock of our own: each attempt (a real one, timing out on the real socket) costs its timeout,
    # each wait its delay, so the give-up bound is reached at the same attempt on any machine
    now, waits, fetch = [0.0], [], dl._fetch_once

    def attempt(url, part, timeout_s):
        try:
            fetch(url, part, timeout_s)
        finally:
            now[0] += timeout_s

    def sleep(delay):
        waits.append(delay)
        now[0] += delay

    monkeypatch.setattr(dl, "_fetch_once", attempt)
    monkeypatch.setattr("workflow_scripts.download.time.sleep", sleep)
    with pytest.raises(DownloadError, match="after 3 attempts in 2 s") as err:
        download(f"{silent_server}/f.tar.gz", tmp_path / "f.tar.gz", retries=50, backoff_s=0.2,
                 timeout_s=0.5, give_up_s=2.0, clock=lambda: now[0])  # fmt: skip
    # attempts end at 0.5, 1.2 and 2.1; the third's 0.8 s wait would pass 2.0: no fourth attempt
    assert waits == [0.2, 0.4] and now[0] == pytest.approx(2.1)
    assert "timed out" in str(err.value) and "dataset.local_archive" in str(err.value)
    shown = capsys.readouterr().err
    assert "attempt 1 failed" in shown and "retry 2 of 50 in 0 s" in shown


def test_server_errors_are_retried_with_doubling_backoff(tmp_path, http_server, monkeypatch):
    http_server.files["f.tar.gz"] = DATA
    http_server.fail_with = [503, 502, 500]
    waits = []
    monkeypatch.setattr("workflow_scripts.download.time.sleep", waits.append)
    out = download(f"{http_server.url}/f.tar.gz", tmp_path / "f.tar.gz", md5=_md5(DATA), backoff_s=1.5)
    assert out.read_bytes() == DATA
    assert waits == [1.5, 3.0, 6.0]


def test_a_server_that_ignores_range_restarts_from_zero(tmp_path, http_server):
    http_server.files["f.tar.gz"] = DATA
    http_server.ignore_range = True
    (tmp_path / "f.tar.gz.part").write_bytes(b"garbage that must not stay in front")
    out = download(f"{http_server.url}/f.tar.gz", tmp_path / "f.tar.gz", md5=_md5(DATA))
    assert out.read_bytes() == DATA
    assert http_server.requests[0]["range"].startswith("bytes=")


def test_http_416_on_a_complete_part_starts_over(tmp_path, http_server):
    http_server.files["f.tar.gz"] = DATA
    (tmp_path / "f.tar.gz.part").write_bytes(DATA + b"extra")  # longer than the file: Range is refused
    out = download(f"{http_server.url}/f.tar.gz", tmp_path / "f.tar.gz", md5=_md5(DATA), backoff_s=0)
    assert out.read_bytes() == DATA
    assert [r["range"] for r in http_server.requests] == [f"bytes={len(DATA) + 5}-", None]


def test_refused_connection_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot download") as err:
        download(
            f"http://127.0.0.1:{port}/f.tar.gz",
            tmp_path / "f.tar.gz",
            retries=1,
            backoff_s=0,
            local_key="model_b.weights",
        )
    assert "model_b.weights" in str(err.value)
    assert not (tmp_path / "f.tar.gz").exists()


def test_file_url(tmp_path):
    src = tmp_path / "src.tar.gz"
    src.write_bytes(DATA)
    out = download(src.as_uri(), tmp_path / "out" / "f.tar.gz", md5=_md5(DATA))
    assert out.read_bytes() == DATA
