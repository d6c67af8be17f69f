import base64
import errno
import json
import logging
import re
import socket
import threading
import urllib.error

import pytest
import yaml
from helpers import snakemake

from workflow_scripts import download as dl
from workflow_scripts.download import DownloadError, _fatal_reason, download
from workflow_scripts.fileio import md5sum

DATA = bytes(range(256)) * 4000  # ~1 MB
PW = "S3cretPW"


@pytest.fixture(autouse=True)
def _no_netrc(tmp_path, monkeypatch):
    """The user's own ~/.netrc stays out of these tests."""
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def _basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _with_userinfo(url, userinfo):
    return url.replace("http://", f"http://{userinfo}@", 1)


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


@pytest.mark.parametrize(
    "userinfo,user,password",
    [("alice:" + PW, "alice", PW), ("al%20ice:p%40ss%3Aw%2Frd", "al ice", "p@ss:w/rd")],
)
def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(
    tmp_path, http_server, monkeypatch, capsys, caplog, userinfo, user, password
):
    http_server.files["f.tar.gz"] = DATA
    http_server.auth = (user, password)
    http_server.fail_with = [503]  # a retry, said on the terminal
    monkeypatch.setattr("workflow_scripts.download.time.sleep", lambda s: None)
    url = _with_userinfo(f"{http_server.url}/f.tar.gz", userinfo)
    with caplog.at_level(logging.INFO, logger="utkface.download"):
        out = download(url, tmp_path / "f.tar.gz", md5=_md5(DATA))
    assert out.read_bytes() == DATA
    assert [r["auth"] for r in http_server.requests] == [_basic(user, password)] * 2
    shown = capsys.readouterr().err + caplog.text
    assert "attempt 1 failed (HTTP 503)" in shown
    assert userinfo.split(":")[1] not in shown and password not in shown
    assert f"http://{userinfo.split(':')[0]}:***@127.0.0.1" in caplog.text


def test_credentials_the_server_refuses_fail_at_once_saying_where_they_go(tmp_path, http_server):
    http_server.files["f.tar.gz"] = DATA
    http_server.auth = ("alice", "another")
    url = _with_userinfo(f"{http_server.url}/f.tar.gz", f"alice:{PW}")
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "f.tar.gz", backoff_s=30)
    msg = str(err.value)
    assert PW not in msg and msg.startswith(f"{http_server.url.replace('http://', 'http://alice:***@')}/f")
    assert "HTTP 401" in msg and "were refused" in msg and str(tmp_path / "no-netrc") in msg
    assert len(http_server.requests) == 1 and list(tmp_path.iterdir()) == []
    with pytest.raises(DownloadError, match="wants a user name and password \\(none was given\\)"):
        download(f"{http_server.url}/f.tar.gz", tmp_path / "f.tar.gz")


def test_credentials_from_the_netrc_file(tmp_path, http_server, monkeypatch):
    http_server.files["f.tar.gz"] = DATA
    http_server.auth = ("alice", PW)
    netrc = tmp_path / "netrc"
    netrc.write_text(
        f"machine elsewhere login bob password nope\nmachine 127.0.0.1 login alice password {PW}\n"
    )
    monkeypatch.setenv("NETRC", str(netrc))
    assert download(f"{http_server.url}/f.tar.gz", tmp_path / "f.tar.gz").read_bytes() == DATA
    # with a user name in the URL, only that user's entry counts; a password in the URL wins
    with pytest.raises(DownloadError, match="HTTP 401"):
        download(_with_userinfo(f"{http_server.url}/f.tar.gz", "bob"), tmp_path / "g.tar.gz")
    http_server.auth = ("carol", "pw2")
    download(_with_userinfo(f"{http_server.url}/f.tar.gz", "carol:pw2"), tmp_path / "h.tar.gz")
    assert [r["auth"] for r in http_server.requests] == [
        _basic("alice", PW), _basic("bob", ""), _basic("carol", "pw2")
    ]  # fmt: skip
    netrc.write_text(f"machine 127.0.0.1 login alice password {PW}\nmachine x login bob {PW}2\n")
    with pytest.raises(DownloadError) as err:
        download(f"{http_server.url}/f.tar.gz", tmp_path / "i.tar.gz")
    # the file and line (as the netrc module counts it), never the token that broke it: a password here
    assert re.fullmatch(f"{netrc}, line [23]: not a valid netrc file", str(err.value))


def test_credentials_are_not_sent_on_to_where_a_redirect_points(tmp_path, http_server):
    http_server.files["f.tar.gz"] = DATA
    http_server.redirects["old.tar.gz"] = f"{http_server.url}/f.tar.gz"  # (a CDN, usually)
    download(_with_userinfo(f"{http_server.url}/old.tar.gz", f"alice:{PW}"), tmp_path / "f.tar.gz")
    assert [(r["path"], r["auth"]) for r in http_server.requests] == [
        ("/old.tar.gz", _basic("alice", PW)), ("/f.tar.gz", None)
    ]  # fmt: skip


@pytest.mark.parametrize(
    "url,shown",
    [
        ("http://alice:S3cretPW@host/f.tar.gz", "http://alice:***@host/f.tar.gz"),
        ("https://alice:S3cretPW@host:8443/a/f.tar.gz?x=1", "https://alice:***@host:8443/a/f.tar.gz?x=1"),
        ("https://alice:p@ss@host/f", "https://alice:***@host/f"),  # an unencoded @ in the password
        ("https://:S3cretPW@host/f", "https://:***@host/f"),
        ("HTTPS://a:b@host/f", "HTTPS://a:***@host/f"),
        ("https://alice@host/f", "https://alice@host/f"),  # a user name alone is no secret
        ("https://host/f?who=a:b@c", "https://host/f?who=a:b@c"),  # an @ in the query is no userinfo
        ("https://host/a:b@c/f", "https://host/a:b@c/f"),
        ("file:///data/f.tar.gz", "file:///data/f.tar.gz"),
        ("not a URL", "not a URL"),
    ],
)
def test_redact_url(url, shown):
    assert dl.redact_url(url) == shown


def test_redact_urls_in_a_whole_config():
    config = {"dataset": {"url": "https://u:pw@h/f", "retries": 5}, "list": ["http://v:pw2@h/g", None, 1.5]}
    assert dl.redact_urls(config) == {
        "dataset": {"url": "https://u:***@h/f", "retries": 5}, "list": ["http://v:***@h/g", None, 1.5]
    }  # fmt: skip
    assert config["dataset"]["url"] == "https://u:pw@h/f"  # a copy


def test_the_step_takes_the_redacted_url_and_finds_the_password_in_the_environment(
    tmp_path, http_server, monkeypatch, capsys
):
    http_server.files["f.tar.gz"] = DATA
    http_server.auth = ("alice", PW)
    url = _with_userinfo(f"{http_server.url}/f.tar.gz", f"alice:{PW}")
    env = dl.secret_urls(["https://plain/f", "https://bob@host/f", url])
    assert json.loads(env) == [url]  # only URLs with a password
    monkeypatch.setenv(dl.SECRET_URLS_ENV, env)
    dl.main(["--url", dl.redact_url(url), "--out", str(tmp_path / "f.tar.gz")])
    assert (tmp_path / "f.tar.gz").read_bytes() == DATA
    assert http_server.requests[0]["auth"] == _basic("alice", PW)
    assert dl.real_url("https://plain/f", {}) == "https://plain/f"
    monkeypatch.setenv(dl.SECRET_URLS_ENV, "[]")
    with pytest.raises(SystemExit) as err:
        dl.main(["--url", dl.redact_url(url), "--out", str(tmp_path / "g.tar.gz")])
    assert str(err.value).startswith(f"ERROR: {dl.redact_url(url)}: its password is not in the environment")
    assert PW not in capsys.readouterr().err


@pytest.mark.cli
def test_the_workflow_downloads_with_a_password_and_stores_it_nowhere(tmp_path, http_server):
    http_server.files["UTKFace.tar.gz"] = DATA
    http_server.auth = ("alice", PW)
    http_server.fail_with = [503]  # a retry, said on the terminal
    url = _with_userinfo(f"{http_server.url}/UTKFace.tar.gz", f"alice:{PW}")
    cfg = tmp_path / "pw.yaml"
    cfg.write_text(yaml.safe_dump({"dataset": {"url": url, "md5": _md5(DATA), "backoff_s": 0}}))
    run = snakemake(tmp_path, "resources/UTKFace.tar.gz", "--cores", "1", "-p", "--configfile", str(cfg))
    assert (tmp_path / "resources/UTKFace.tar.gz").read_bytes() == DATA
    assert [r["auth"] for r in http_server.requests] == [_basic("alice", PW)] * 2
    # the report's rule hands over the whole config as a param: redacted too
    plan = snakemake(tmp_path, "-n", "-p", "results/report/index.html", "--configfile", str(cfg))
    redacted = url.replace(PW, "***")
    for proc in (run, plan):
        said = proc.stdout + proc.stderr
        assert PW not in said and redacted in said
    assert "attempt 1 failed (HTTP 503)" in run.stdout + run.stderr
    stored = [p for p in tmp_path.rglob("*") if p.is_file() and PW.encode() in p.read_bytes()]
    assert stored == [cfg]
    metadata = "".join(p.read_text() for p in (tmp_path / ".snakemake/metadata").iterdir())
    assert redacted in metadata
