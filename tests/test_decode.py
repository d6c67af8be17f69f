"""Images into arrays: every mode to RGB, the resize (each interpolation key as Pillow's), the process
pool, the disk checks and the gather."""

import errno
import os
import shutil
from collections import namedtuple
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest
from PIL import Image

from workflow_scripts import decode
from workflow_scripts.decode import INTERPOLATION, chunks, decode_images, gather, load_image


@pytest.fixture()
def mixed_modes(tmp_path):
    """JPEGs in L, RGB and CMYK, plus a palette PNG: every one must come out RGB."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.jpg", quality=95)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.jpg")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")
    return [tmp_path / n for n in ("rgb.jpg", "grey.jpg", "cmyk.jpg", "pal.png")]


def test_shapes_dtype_and_rgb_for_every_mode(mixed_modes, tmp_path):
    out = tmp_path / "x.npy"
    assert [reason for _, reason in decode_images(mixed_modes, out, size=128)] == [None] * 4
    arr = np.load(out, mmap_mode="r")
    assert isinstance(arr, np.memmap) and arr.shape == (4, 128, 128, 3) and arr.dtype == np.uint8
    grey = arr[1]
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    assert out.stat().st_size == 128 + 4 * 128 * 128 * 3  # header + pixels, nothing more


def test_values_match_a_plain_pil_resize(mixed_modes, tmp_path):
    decode_images(mixed_modes, tmp_path / "x.npy", size=128)
    ref = np.asarray(Image.open(mixed_modes[0]).convert("RGB").resize((128, 128), Image.BILINEAR))
    assert np.array_equal(np.load(tmp_path / "x.npy")[0], ref)


def test_interpolation_key_changes_the_pixels_as_pillow_does(tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    near = load_image(tmp_path / "a.png", 64, "nearest")
    bil = load_image(tmp_path / "a.png", 64, "bilinear")
    ref = np.asarray(Image.open(tmp_path / "a.png").resize((64, 64), Image.Resampling.NEAREST))
    assert np.array_equal(near, ref) and not np.array_equal(near, bil)


def test_digests_reasons_and_rows_of_good_and_bad_files(mixed_modes, tmp_path):
    import hashlib

    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    paths = [mixed_modes[0], tmp_path / "bad.jpg", tmp_path / "gone.jpg", mixed_modes[3]]
    got = decode_images(paths, tmp_path / "x.npy", 20, "nearest")
    assert got == [
        (hashlib.sha1(mixed_modes[0].read_bytes()).hexdigest(), None),
        (
            hashlib.sha1(b"\xff\xd8garbage").hexdigest(),
            "undecodable image: not an image format Pillow can read",
        ),
        ("", "unreadable file: No such file or directory"),
        (hashlib.sha1(mixed_modes[3].read_bytes()).hexdigest(), None),
    ]
    arr = np.load(tmp_path / "x.npy")
    assert np.array_equal(arr[0], load_image(mixed_modes[0], 20, "nearest"))
    assert np.array_equal(arr[3], load_image(mixed_modes[3], 20, "nearest"))
    assert not arr[1].any() and not arr[2].any()  # a file that does not decode leaves its row zero


def test_workers_do_not_change_a_byte(synth_dir, tmp_path):
    paths = sorted(synth_dir.glob("*.jpg")) * 3  # three tasks of 64 rows or more: the pool runs
    one = decode_images(paths, tmp_path / "one.npy", 32, workers=1)
    two = decode_images(paths, tmp_path / "two.npy", 32, workers=2)
    assert one == two and len(chunks(len(paths), 2)) > 1
    assert (tmp_path / "one.npy").read_bytes() == (tmp_path / "two.npy").read_bytes()
    arr = np.load(tmp_path / "one.npy")
    decoded = [i for i, (_, reason) in enumerate(one) if reason is None]
    assert all(arr[i].any() for i in decoded)  # no chunk left as zeros
    assert np.array_equal(arr[decoded[-1]], load_image(paths[decoded[-1]], 32))


def test_work_is_cut_into_about_four_tasks_a_worker_of_at_least_64_rows():
    assert chunks(1000, 2) == [slice(s, s + 125) for s in range(0, 1000, 125)]
    assert chunks(1001, 2) == [slice(s, min(s + 126, 1001)) for s in range(0, 1001, 126)]
    assert chunks(100, 2) == [slice(0, 64), slice(64, 100)]
    assert chunks(64, 1) == [slice(0, 64)] and chunks(65, 0) == [slice(0, 64), slice(64, 65)]
    assert chunks(3000, 3) == [slice(s, s + 250) for s in range(0, 3000, 250)]
    assert chunks(0, 2) == []
    assert chunks(1000, 1) == [slice(s, s + 250) for s in range(0, 1000, 250)]  # one worker: four tasks too


def test_large_jpegs_are_decoded_at_a_reduced_dct_scale(tmp_path):
    # libjpeg decodes a 512 px JPEG at 1/2 or 1/4 scale when that still covers the target size:
    # the same pixels as that reduced decode, not those of a full decode, and in RGB order
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


def test_load_image_reads_an_open_file_like_a_path(mixed_modes):
    with open(mixed_modes[0], "rb") as f:
        assert np.array_equal(load_image(f, 50, "bicubic"), load_image(mixed_modes[0], 50, "bicubic"))


def test_a_full_disk_is_one_clear_line_and_other_errors_pass_through(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    # 100,050,010 bytes: 100.1 MB, the decimal megabyte rounded
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 100_050_010, 100_050_010))

    def full(fd, offset, length):
        assert offset == 0 and length == os.fstat(fd).st_size  # every byte of the file reserved
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(decode.NoSpaceError) as err:
        decode.allocate(tmp_path / "a.npy", (100, 50, 50, 3))
    assert str(err.value) == f"{tmp_path}: no space left for the array: it needs 0.8 MB, 100.1 MB are free"

    def broken(fd, offset, length):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "posix_fallocate", broken)
    with pytest.raises(OSError) as err:
        decode.allocate(tmp_path / "b.npy", (1, 2, 2, 3))
    assert err.value.errno == errno.EIO and not isinstance(err.value, decode.NoSpaceError)


def test_the_megabytes_of_a_full_disk_are_rounded_from_the_byte_count(tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    # 128 header bytes + 100,049,901 pixel bytes = 100,050,029 bytes: 100.05 MB, shown as 100.1
    with pytest.raises(decode.NoSpaceError, match=r"it needs 100\.1 MB, "):
        decode.allocate(tmp_path / "a.npy", (33_349_967, 1, 1, 3))


def _pngs(tmp_path, n):
    Image.new("RGB", (12, 12), (9, 99, 199)).save(tmp_path / "a.png")
    return [tmp_path / "a.png"] * n


class _InProcess:  # a pool that runs its tasks here, and records that it was started
    started: list = []

    def __init__(self, max_workers):
        self.started.append(max_workers)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, jobs):
        return map(fn, jobs)


@pytest.mark.parametrize(
    "rows,workers,pool", [(200, 1, None), (60, 2, None), (128, 2, 2), (200, 2, 2), (200, 3, 3)]
)
def test_a_process_pool_only_for_several_workers_and_several_tasks(
    tmp_path, monkeypatch, rows, workers, pool
):
    monkeypatch.setattr(_InProcess, "started", [])
    monkeypatch.setattr(decode, "ProcessPoolExecutor", _InProcess)
    got = decode_images(_pngs(tmp_path, rows), tmp_path / "o.npy", 8, workers=workers)
    assert len(got) == rows and {reason for _, reason in got} == {None}
    assert _InProcess.started == ([] if pool is None else [pool])
    assert np.load(tmp_path / "o.npy").min(axis=(1, 2, 3)).all()  # every row filled


def test_a_dead_worker_is_named_as_such(tmp_path, monkeypatch):
    class Dying(_InProcess):
        def map(self, fn, jobs):
            raise BrokenProcessPool("a child process terminated abruptly")

    monkeypatch.setattr(decode, "ProcessPoolExecutor", Dying)
    with pytest.raises(RuntimeError) as err:
        decode_images(_pngs(tmp_path, 200), tmp_path / "o.npy", 8, workers=2)
    expected = f"{tmp_path / 'o.npy'}: a worker process died (killed, or out of memory: try fewer threads)"
    assert str(err.value) == expected


@pytest.mark.parametrize("block", [1, 3, 256])
def test_gather_writes_the_rows_in_the_order_asked_whatever_the_block(tmp_path, block):
    src = np.random.default_rng(5).integers(0, 256, (40, 3, 3, 3), dtype=np.uint8)
    rows = np.array([39, 0, 7, 7, 12, 1, 38])  # unsorted, one repeated
    gather(src, rows, tmp_path / "g.npy", block=block)
    got = np.load(tmp_path / "g.npy", mmap_mode="r")
    assert isinstance(got, np.memmap) and np.array_equal(got, src[rows])
    gather(src, np.array([], dtype=np.int64), tmp_path / "e.npy")
    assert np.load(tmp_path / "e.npy").shape == (0, 3, 3, 3)


def _memmapped(tmp_path, shape=(40, 3, 3, 3), seed=5):
    src = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    np.save(tmp_path / "src.npy", src)
    return src, np.load(tmp_path / "src.npy", mmap_mode="r")


def test_gather_from_a_memory_mapped_file_copies_each_run_of_rows_in_the_kernel(tmp_path, monkeypatch):
    src, mapped = _memmapped(tmp_path)
    calls = []
    real = os.copy_file_range

    def counting(fin, fout, count, at_src, at_dst):
        calls.append(count)
        return real(fin, fout, min(count, 50), at_src, at_dst)  # short copies: the loop must go on

    monkeypatch.setattr(os, "copy_file_range", counting)
    monkeypatch.setattr(decode, "row_writer", None)  # the copy through memory must not run as well
    rows = np.array([3, 4, 5, 9, 0, 1, 1, 39])  # runs 3-5, 9, 0-1, 1, 39
    gather(mapped, rows, tmp_path / "g.npy")
    assert np.array_equal(np.load(tmp_path / "g.npy"), src[rows])
    # runs of 3, 1, 2, 1, 1 rows of 27 bytes; a copy cut short at 50 bytes is resumed where it stopped
    assert calls == [81, 31, 27, 54, 4, 27, 27]


@pytest.mark.parametrize("code", [errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL])
def test_gather_copies_through_memory_where_the_kernel_copy_is_refused(tmp_path, monkeypatch, code):
    src, mapped = _memmapped(tmp_path)

    def refuse(*args):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "copy_file_range", refuse)
    rows = np.array([39, 0, 7, 7, 12, 1, 38])
    gather(mapped, rows, tmp_path / "g.npy")
    assert np.array_equal(np.load(tmp_path / "g.npy"), src[rows])


def test_gather_stops_on_a_read_error_or_a_source_that_ends_early(tmp_path, monkeypatch):
    _, mapped = _memmapped(tmp_path)

    def failing(*args):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "copy_file_range", failing)
    with pytest.raises(OSError, match="Input/output error"):
        gather(mapped, np.array([1, 2]), tmp_path / "g.npy")
    monkeypatch.setattr(os, "copy_file_range", lambda *args: 0)
    with pytest.raises(OSError) as err:
        gather(mapped, np.array([1, 2]), tmp_path / "h.npy")
    assert str(err.value) == f"{tmp_path / 'src.npy'}: ended before row 2"


def test_gather_of_no_rows_from_a_memory_mapped_file_writes_an_empty_array(tmp_path):
    _, mapped = _memmapped(tmp_path)
    gather(mapped, np.array([], dtype=np.int64), tmp_path / "e.npy")
    assert np.load(tmp_path / "e.npy").shape == (0, 3, 3, 3)


def test_gather_from_a_slice_of_a_memory_map_copies_the_slice_rows(tmp_path):
    src, mapped = _memmapped(tmp_path)
    rows = np.array([0, 1, 2, 5])
    gather(mapped[10:], rows, tmp_path / "g.npy")  # its offset is not where its rows start: no kernel copy
    assert np.array_equal(np.load(tmp_path / "g.npy"), src[10:][rows])


def test_keep_rows_compacts_in_place_and_fixes_the_header_and_length(tmp_path):
    from workflow_scripts.decode import keep_rows

    src = np.random.default_rng(6).integers(0, 256, (12, 4, 4, 3), dtype=np.uint8)
    path = tmp_path / "a.npy"
    np.save(path, src)
    inode = path.stat().st_ino
    keep_rows(path, np.array([0, 3, 4, 10]))
    got = np.load(path)
    assert np.array_equal(got, src[[0, 3, 4, 10]]) and path.stat().st_ino == inode  # the same file
    assert path.stat().st_size == 128 + 4 * 4 * 4 * 3
    keep_rows(path, np.array([2]))  # one row
    assert np.array_equal(np.load(path), src[[4]])
    keep_rows(path, np.array([], dtype=np.int64))
    assert np.load(path).shape == (0, 4, 4, 3) and path.stat().st_size == 128
    np.save(path, src)
    for bad in ([3, 3], [4, 2], [-1, 2], [0, 12], [0, 5, 12]):
        with pytest.raises(ValueError, match=r"rows to keep must be increasing row numbers below 12$"):
            keep_rows(path, np.array(bad))
    assert np.array_equal(np.load(path), src)  # refused before anything moved


def test_row_writer_puts_rows_at_their_place_and_refuses_a_wrong_size(tmp_path):
    from workflow_scripts.decode import allocate, row_writer

    allocate(tmp_path / "r.npy", (3, 2, 2, 3))
    with row_writer(tmp_path / "r.npy") as put:
        put(2, np.full((2, 2, 3), 9, dtype=np.uint8))
        put(0, np.arange(12).reshape(2, 2, 3))  # cast to uint8
        with pytest.raises(OSError, match=r"r\.npy: row 1 not written whole$"):
            put(1, np.zeros((2, 2, 2), dtype=np.uint8))
    got = np.load(tmp_path / "r.npy")
    assert got.tolist() == [
        np.arange(12).reshape(2, 2, 3).tolist(),
        np.zeros((2, 2, 3)).tolist(),
        [[[9] * 3] * 2] * 2,
    ]
