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
