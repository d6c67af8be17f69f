import io
import stat
import tarfile
import zipfile

import pytest
import yaml
from helpers import LABELS, snakemake

from workflow_scripts import extract as extract_mod
from workflow_scripts import synthetic
from workflow_scripts.extract import ArchiveLimitError, Limits, UnsafeArchiveError, extract


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


def _zeros_tar(path, size, name="UTKFace/big.jpg"):
    """A tar.gz with one member of `size` zero bytes: a few KB on disk for megabytes extracted."""
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(_file("UTKFace/1_0_0_20170101000000000.jpg.chip.jpg")[0], io.BytesIO(b"x"))
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, io.BytesIO(bytes(size)))
    return path


def _previous_output(out):
    out.mkdir()
    (out / "kept.jpg").write_bytes(b"earlier extraction")


def _untouched(tmp_path, out):
    assert [p.name for p in out.iterdir()] == ["kept.jpg"]  # nothing already produced is lost
    assert not (tmp_path / "out.extracting").exists()  # and the partial extraction is removed


def test_a_compressible_member_past_the_size_bound_stops_the_tar_extraction(tmp_path):
    arc = _zeros_tar(tmp_path / "bomb.tar.gz", 20_000_000)
    assert arc.stat().st_size < 100_000
    out = tmp_path / "out"
    _previous_output(out)
    with pytest.raises(ArchiveLimitError) as err:
        extract(arc, out, limits=Limits(max_bytes=10_000_000, max_members=100))
    assert str(err.value) == (
        f"{arc}: the extracted files pass 0.01 GB (at 'UTKFace/big.jpg'); UTKFace takes about 0.4 GB: "
        "replace the archive, or raise config key `dataset.extract_max_gb`"
    )
    _untouched(tmp_path, out)
    assert extract(arc, out, limits=Limits(max_bytes=20_000_001, max_members=100)) == 2  # within: all of it


def test_a_zip_member_is_bounded_by_its_declared_size_and_the_bytes_really_written(tmp_path, monkeypatch):
    copied = []
    real_copy = extract_mod._copy

    def copy(src, dst, name, budget):
        copied.append(name)
        real_copy(src, dst, name, budget)

    monkeypatch.setattr(extract_mod, "_copy", copy)
    arc = tmp_path / "bomb.zip"
    with zipfile.ZipFile(arc, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.jpg", b"x")
        zf.writestr("big.jpg", bytes(20_000_000))
    assert arc.stat().st_size < 100_000
    out = tmp_path / "out"
    _previous_output(out)
    with pytest.raises(ArchiveLimitError, match=r"pass 0.01 GB \(at 'big.jpg'\).*`dataset.extract_max_gb`"):
        extract(arc, out, limits=Limits(max_bytes=10_000_000, max_members=100))
    _untouched(tmp_path, out)
    assert copied == ["a.jpg"]  # the declared size stopped it before big.jpg was begun
    # and the copy counts the bytes really written, whatever the central directory claims
    src, dst = io.BytesIO(bytes(5_000_000)), io.BytesIO()
    budget = extract_mod._Budget(arc, Limits(max_bytes=2_000_000, max_members=1))
    with pytest.raises(ArchiveLimitError, match="at 'x.jpg'"):
        real_copy(src, dst, "x.jpg", budget)
    assert dst.tell() <= 2_000_000


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_too_many_members_stop_the_extraction_at_the_first_one_past_the_bound(tmp_path, fmt):
    arc = tmp_path / f"many.{fmt}"
    names = [f"UTKFace/{i}.jpg" for i in range(50)]
    if fmt == "zip":
        with zipfile.ZipFile(arc, "w") as zf:
            for n in names:
                zf.writestr(n, b"x")
    else:
        _tar(arc, [_file(n) for n in names])
    out = tmp_path / "out"
    _previous_output(out)
    with pytest.raises(ArchiveLimitError) as err:
        extract(arc, out, limits=Limits(max_bytes=10**9, max_members=20))
    assert str(err.value) == (
        f"{arc}: more than 20 members (at 'UTKFace/20.jpg'); UTKFace has about 23,708: replace the archive, "
        "or raise config key `dataset.extract_max_members`"
    )
    _untouched(tmp_path, out)
    assert extract(arc, out, limits=Limits(max_bytes=10**9, max_members=50)) == 50


def test_the_command_line_bounds_name_their_keys_in_one_error_line(tmp_path):
    arc = _zeros_tar(tmp_path / "bomb.tar.gz", 3_000_000)
    argv = ["--archive", str(arc), "--out", str(tmp_path / "out"), "--max-members", "100"]
    with pytest.raises(SystemExit) as err:
        extract_mod.main([*argv, "--max-gb", "0.002"])
    assert str(err.value).startswith(f"ERROR: {arc}: the extracted files pass 0.002 GB")
    assert str(err.value).endswith("`dataset.extract_max_gb`") and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()
    extract_mod.main([*argv, "--max-gb", "0.004"])
    assert (tmp_path / "out/UTKFace/big.jpg").stat().st_size == 3_000_000


def test_the_schema_defaults_fit_the_real_utkface():
    from helpers import full_config

    cfg = full_config()["dataset"]
    assert cfg["extract_max_gb"] * 1e9 >= 400e6 and cfg["extract_max_members"] >= 23_708 + 100


@pytest.mark.cli
def test_the_workflow_passes_the_configured_bounds_to_the_extraction(tmp_path):
    from helpers import snakemake

    arc = _zeros_tar(tmp_path / "bomb.tar.gz", 3_000_000)
    (tmp_path / "c.yaml").write_text(
        f"dataset: {{local_archive: {str(arc)!r}, md5: null, extract_max_gb: 0.002}}\n"
    )
    args = ("-c1", "--configfile", str(tmp_path / "c.yaml"), "--", "results/data/extracted")
    proc = snakemake(tmp_path, *args, check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs/extract_archive.log").read_text()
    assert "ERROR: " in log and "the extracted files pass 0.002 GB" in log and "dataset.extract_max_gb" in log
    assert not (tmp_path / "results/data/extracted").exists()


def _archive_case(tmp_path, kind):
    good = tmp_path / "good"
    synthetic.generate(good / "UTKFace", 12, seed=1, quirks=False)
    path = tmp_path / "UTKFace.tar.gz"
    if kind == "truncated":
        with tarfile.open(path, "w:gz") as tar:
            tar.add(good / "UTKFace", arcname="UTKFace")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "zip named .tar.gz":
        with zipfile.ZipFile(path, "w") as z:
            for f in (good / "UTKFace").iterdir():
                z.write(f, f"UTKFace/{f.name}")
    elif kind == "empty":
        with tarfile.open(path, "w:gz"):
            pass
    return path


@pytest.mark.cli
@pytest.mark.parametrize("kind", ["truncated", "empty"])
def test_a_bad_archive_fails_in_one_line_naming_the_archive_and_the_key(tmp_path, kind):
    archive = _archive_case(tmp_path, kind)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"dataset": {"local_archive": str(archive), "md5": None}}))
    proc = snakemake(tmp_path, "-c1", "--configfile", str(cfg), "--", LABELS, check=False)
    assert proc.returncode != 0
    terminal = proc.stderr + proc.stdout
    line = next(ln for ln in terminal.splitlines() if ln.startswith("ERROR:"))
    assert str(archive) in line and "dataset.local_archive" in line, line
    assert "Traceback" not in terminal
    assert not (tmp_path / "results/data/extracted").exists()


def test_a_zip_renamed_tar_gz_is_read_by_its_content(tmp_path):
    from workflow_scripts.extract import extract

    archive = _archive_case(tmp_path, "zip named .tar.gz")
    assert extract(archive, tmp_path / "out") == 12
