import io
import stat
import tarfile
import zipfile

import pytest

from workflow_scripts.extract import UnsafeArchiveError, extract


def _tar(path, members):
    with tarfile.open(path, "w" if str(path).endswith(".tar") else "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name, kind, target=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize(
    "member,why",
    [
        (_file("/etc/evil.jpg"), "absolute"),
        (_file("UTKFace/../../evil.jpg"), "'..'"),
        (_special("UTKFace/link.jpg", tarfile.SYMTYPE, "/etc/passwd"), "link"),
        (_special("UTKFace/hard.jpg", tarfile.LNKTYPE, "UTKFace/a.jpg"), "link"),
        (_special("UTKFace/dev", tarfile.CHRTYPE), "device"),
        (_special("UTKFace/fifo", tarfile.FIFOTYPE), "device"),
    ],
)
def test_malicious_tar_is_refused_and_nothing_is_left(tmp_path, member, why):
    arc = _tar(tmp_path / "evil.tar.gz", [_file("UTKFace/a.jpg"), member])
    out = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match=why) as err:
        extract(arc, out)
    assert str(arc) in str(err.value)
    assert not out.exists() and not (tmp_path / "out.extracting").exists()
    assert not (tmp_path.parent / "evil.jpg").exists()


@pytest.mark.parametrize(
    "name,why", [("../evil.jpg", "'..'"), ("/abs/evil.jpg", "absolute"), ("C:/evil.jpg", "absolute")]
)
def test_malicious_zip_is_refused(tmp_path, name, why):
    arc = tmp_path / "evil.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        zf.writestr("UTKFace/a.jpg", b"x")
        zf.writestr(name, b"evil")
    with pytest.raises(UnsafeArchiveError, match=why):
        extract(arc, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_symlink_is_refused(tmp_path):
    arc = tmp_path / "link.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        info = zipfile.ZipInfo("UTKFace/link.jpg")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract(arc, tmp_path / "out")


@pytest.mark.parametrize("suffix", [".tar.gz", ".tgz", ".tar", ".zip"])
def test_nested_images_are_found_in_each_format(tmp_path, suffix):
    names = [
        "data/part1/UTKFace/1_0_0_20170101000000000.jpg.chip.jpg",
        "2_1_0_20170101000000001.jpg.chip.jpg",
    ]
    arc = tmp_path / f"ok{suffix}"
    if suffix == ".zip":
        with zipfile.ZipFile(arc, "w") as zf:
            for n in names:
                zf.writestr(n, b"img")
    else:
        _tar(arc, [_file(n, b"img") for n in names])
    assert extract(arc, tmp_path / "out") == 2
    if suffix == ".tar":
        assert arc.read_bytes()[257:262] == b"ustar"  # really an uncompressed tar
    for n in names:
        assert (tmp_path / "out" / n).read_bytes() == b"img"


def test_md5_and_type_errors_name_the_key(tmp_path, synth_archive):
    with pytest.raises(ValueError, match="dataset.md5"):
        extract(synth_archive, tmp_path / "out", md5="0" * 32)
    with pytest.raises(FileNotFoundError, match="dataset.local_archive"):
        extract(tmp_path / "missing.tar.gz", tmp_path / "out")
    (tmp_path / "x.rar").write_bytes(b"rar")
    with pytest.raises(ValueError, match="not a .tar.gz, .tgz, .tar or .zip archive"):
        extract(tmp_path / "x.rar", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_reextraction_replaces_the_previous_output(tmp_path, synth_archive):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.jpg").write_bytes(b"old")
    n = extract(synth_archive, out)
    assert n == 67 and not (out / "stale.jpg").exists()
