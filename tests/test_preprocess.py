import numpy as np
import pandas as pd
import pytest
from PIL import Image

from workflow_scripts.preprocess import load_image, preprocess


@pytest.fixture()
def mixed_modes(tmp_path):
    """JPEGs in L, RGB and CMYK, plus a palette PNG: every one must come out RGB."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.jpg", quality=95)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.jpg")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")
    names = ["rgb.jpg", "grey.jpg", "cmyk.jpg", "pal.png"]
    pd.DataFrame(
        {"path": names, "age": [1] * 4, "gender": [0] * 4, "race": [0] * 4, "datetime": ["1"] * 4}
    ).to_csv(tmp_path / "split.csv", index=False)
    return tmp_path


def test_shapes_dtype_and_rgb_for_every_mode(mixed_modes, tmp_path):
    out = tmp_path / "x.npy"
    assert preprocess(mixed_modes, mixed_modes / "split.csv", out, size=128) == 4
    arr = np.load(out, mmap_mode="r")
    assert isinstance(arr, np.memmap) and arr.shape == (4, 128, 128, 3) and arr.dtype == np.uint8
    grey = arr[1]
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])


def test_values_match_a_plain_pil_resize(mixed_modes, tmp_path):
    out = tmp_path / "x.npy"
    preprocess(mixed_modes, mixed_modes / "split.csv", out, size=128)
    ref = np.asarray(Image.open(mixed_modes / "rgb.jpg").convert("RGB").resize((128, 128), Image.BILINEAR))
    assert np.array_equal(np.load(out)[0], ref)


def test_row_order_follows_the_csv_and_workers_do_not_change_bytes(synth_dir, tmp_path):
    from workflow_scripts.labels import build_labels

    labels, _ = build_labels(synth_dir)
    labels.to_csv(tmp_path / "split.csv", index=False)
    preprocess(synth_dir, tmp_path / "split.csv", tmp_path / "one.npy", 64, workers=1)
    preprocess(synth_dir, tmp_path / "split.csv", tmp_path / "two.npy", 64, workers=2)
    one = np.load(tmp_path / "one.npy")
    assert (tmp_path / "one.npy").read_bytes() == (tmp_path / "two.npy").read_bytes()
    assert np.array_equal(one[7], load_image(synth_dir / labels["path"][7], 64))


def test_an_undecodable_image_names_the_file_and_leaves_no_output(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    pd.DataFrame({"path": ["bad.jpg"], "age": [1], "gender": [0], "race": [0], "datetime": ["1"]}).to_csv(
        tmp_path / "split.csv", index=False
    )
    with pytest.raises(RuntimeError, match="bad.jpg"):
        preprocess(tmp_path, tmp_path / "split.csv", tmp_path / "out.npy", 32)
    assert not (tmp_path / "out.npy").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_work_is_cut_into_about_four_tasks_a_worker_of_at_least_64_rows():
    from workflow_scripts.preprocess import chunks

    assert chunks(1000, 2) == [slice(s, s + 125) for s in range(0, 1000, 125)]
    assert chunks(1001, 2) == [slice(s, min(s + 126, 1001)) for s in range(0, 1001, 126)]
    assert chunks(100, 2) == [slice(0, 64), slice(64, 100)]
    assert chunks(64, 1) == [slice(0, 64)] and chunks(65, 0) == [slice(0, 64), slice(64, 65)]
    assert chunks(3000, 3) == [slice(s, s + 250) for s in range(0, 3000, 250)]
    assert chunks(0, 2) == []


def test_large_jpegs_are_decoded_at_a_reduced_dct_scale(tmp_path):
    # libjpeg decodes a 512 px JPEG at 1/2 or 1/4 scale when that still covers the target size:
    # the same pixels as that reduced decode, not those of a full decode, and in RGB order
    from workflow_scripts.preprocess import INTERPOLATION

    rng = np.random.default_rng(3)
    big = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=95)
    got = load_image(tmp_path / "big.jpg", 100)
    with Image.open(tmp_path / "big.jpg") as im:
        im.draft("RGB", (100, 100))
        assert im.size == (128, 128)  # 1/4 scale
        reduced = np.asarray(im.resize((100, 100), INTERPOLATION["bilinear"]))
    with Image.open(tmp_path / "big.jpg") as im:
        full = np.asarray(im.convert("RGB").resize((100, 100), INTERPOLATION["bilinear"]))
    assert got.dtype == np.uint8 and got.shape == (100, 100, 3)
    assert np.array_equal(got, reduced) and not np.array_equal(got, full)


def test_preprocess_passes_interpolation_names_the_bad_file_and_logs(tmp_path, caplog):
    import logging

    from workflow_scripts.labels import LABEL_COLUMNS

    rng = np.random.default_rng(4)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    split = pd.DataFrame([(f"{i}.png", 30, 0, 0, "1") for i in range(3)], columns=LABEL_COLUMNS)
    split.to_csv(tmp_path / "s.csv", index=False)
    with caplog.at_level(logging.INFO, logger="utkface.preprocess"):
        assert preprocess(tmp_path, tmp_path / "s.csv", tmp_path / "o.npy", 20, "nearest") == 3
    arr = np.load(tmp_path / "o.npy")
    assert all(np.array_equal(arr[i], load_image(tmp_path / f"{i}.png", 20, "nearest")) for i in range(3))
    assert [r.getMessage() for r in caplog.records] == [f"{tmp_path / 'o.npy'}: 3 images at 20x20"]
    assert (tmp_path / "o.npy").stat().st_size == 128 + 3 * 20 * 20 * 3  # header + pixels, nothing more
    (tmp_path / "1.png").write_bytes(b"gone bad")
    with pytest.raises(RuntimeError) as err:
        preprocess(tmp_path, tmp_path / "s.csv", tmp_path / "p.npy", 20)
    assert str(err.value).startswith(f"{tmp_path / '1.png'}: cannot decode (cannot identify image file")
    assert sorted(p.name for p in tmp_path.glob("*.npy*")) == ["o.npy"]


def test_a_full_disk_is_one_clear_line_and_other_errors_pass_through(tmp_path, monkeypatch):
    import errno
    import os
    import shutil
    from collections import namedtuple

    from workflow_scripts import preprocess as pp

    usage = namedtuple("usage", "total used free")
    # 100,050,010 bytes: 100.1 MB, the decimal megabyte rounded
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 100_050_010, 100_050_010))

    def full(fd, offset, length):
        assert offset == 0 and length == os.fstat(fd).st_size  # every byte of the file reserved
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(pp.NoSpaceError) as err:
        pp._allocate(tmp_path / "a.npy", (100, 50, 50, 3))
    assert str(err.value) == f"{tmp_path}: no space left for the array: it needs 0.8 MB, 100.1 MB are free"

    def broken(fd, offset, length):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "posix_fallocate", broken)
    with pytest.raises(OSError) as err:
        pp._allocate(tmp_path / "b.npy", (1, 2, 2, 3))
    assert err.value.errno == errno.EIO and not isinstance(err.value, pp.NoSpaceError)


def _split_of(tmp_path, n):
    from workflow_scripts.labels import LABEL_COLUMNS

    Image.new("RGB", (12, 12), (9, 99, 199)).save(tmp_path / "a.png")
    pd.DataFrame([("a.png", 30, 0, 0, "1")] * n, columns=LABEL_COLUMNS).to_csv(
        tmp_path / "s.csv", index=False
    )
    return tmp_path / "s.csv"


@pytest.mark.parametrize("rows,workers,pool", [(200, 1, None), (60, 2, None), (200, 2, 2), (200, 3, 3)])
def test_a_process_pool_only_for_several_workers_and_several_tasks(
    tmp_path, monkeypatch, rows, workers, pool
):
    from workflow_scripts import preprocess as pp

    started = []

    class InProcess:  # a pool that runs its tasks here, and records that it was started
        def __init__(self, max_workers):
            started.append(max_workers)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, jobs):
            return map(fn, jobs)

    monkeypatch.setattr(pp, "ProcessPoolExecutor", InProcess)
    assert preprocess(tmp_path, _split_of(tmp_path, rows), tmp_path / "o.npy", 8, workers=workers) == rows
    assert started == ([] if pool is None else [pool])
    assert np.load(tmp_path / "o.npy").min(axis=(1, 2, 3)).all()  # every row filled


def test_a_dead_worker_is_named_as_such(tmp_path, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    from workflow_scripts import preprocess as pp

    class Dying:
        def __init__(self, max_workers):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, jobs):
            raise BrokenProcessPool("a child process terminated abruptly")

    monkeypatch.setattr(pp, "ProcessPoolExecutor", Dying)
    with pytest.raises(RuntimeError) as err:
        preprocess(tmp_path, _split_of(tmp_path, 200), tmp_path / "o.npy", 8, workers=2)
    assert (
        str(err.value)
        == f"{tmp_path / 'o.npy'}: a worker process died (killed, or out of memory: try fewer threads)"
    )
    assert not list(tmp_path.glob("*.npy*"))


def test_the_megabytes_of_a_full_disk_are_rounded_from_the_byte_count(tmp_path, monkeypatch):
    import errno
    import os

    from workflow_scripts import preprocess as pp

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    # 128 header bytes + 100,049,901 pixel bytes = 100,050,029 bytes: 100.05 MB, shown as 100.1
    with pytest.raises(pp.NoSpaceError, match=r"it needs 100\.1 MB, "):
        pp._allocate(tmp_path / "a.npy", (33_349_967, 1, 1, 3))
