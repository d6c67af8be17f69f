import socket

import pytest

from workflow_scripts.download import DownloadError, download
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
