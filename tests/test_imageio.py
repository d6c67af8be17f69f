"""Every image mode becomes 8-bit RGB with its intensities kept (16-bit scaled, alpha laid on white), or
is refused with the reason; the label check and preprocessing agree."""

import numpy as np
import pytest
from PIL import Image

from workflow_scripts.decode import load_image
from workflow_scripts.imageio import BACKGROUND, UnusableImageError, to_rgb
from workflow_scripts.labels import check_image

RAMP16 = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))


def _png16(path):
    Image.fromarray(RAMP16).save(path)  # 16-bit greyscale PNG
    return path


def test_16_bit_greyscale_png_is_scaled_not_clipped_to_white(tmp_path):
    path = _png16(tmp_path / "g16.png")
    with Image.open(path) as im:
        assert im.mode in ("I;16", "I")  # Pillow opens 16-bit PNGs in one of these
    assert check_image(path)[1] is None
    arr = load_image(path, 64)
    expected = np.rint(RAMP16 / 257).astype(np.uint8)
    assert np.array_equal(arr[..., 0], expected) and np.array_equal(arr[..., 2], expected)
    assert arr.min() == 0 and arr.max() == 255 and len(np.unique(arr)) == 64


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_16_bit_modes_in_memory(mode):
    im = Image.fromarray(RAMP16).convert("I").convert(mode) if mode != "I;16" else Image.fromarray(RAMP16)
    out = np.asarray(to_rgb(im))
    assert np.array_equal(out[..., 1], np.rint(RAMP16 / 257).astype(np.uint8))


def test_32_bit_integer_within_16_bits_is_scaled_beyond_is_refused():
    ok = Image.fromarray(RAMP16.astype(np.int32), "I")
    assert np.asarray(to_rgb(ok))[0, -1, 0] == 255
    bad = Image.fromarray(np.full((4, 4), 70_000, np.int32), "I")
    with pytest.raises(UnusableImageError, match="no known 8-bit scale"):
        to_rgb(bad)


def test_float_images_are_refused_by_the_label_check_with_the_reason(tmp_path):
    path = tmp_path / "f.tiff"
    Image.fromarray(np.random.default_rng(0).random((16, 16), dtype=np.float32), "F").save(path)
    digest, reason = check_image(path)
    assert digest and reason.startswith("unusable image: 32-bit floating-point")


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_transparent_pixels_show_white_and_opaque_ones_keep_their_colour(tmp_path, mode):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 40  # dark grey under the alpha
    rgba[:, :4, 3] = 255  # left half opaque, right half fully transparent
    im = Image.fromarray(rgba, "RGBA").convert(mode)
    im.save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png", 8)
    assert (out[:, :4] == 40).all()
    assert (out[:, 4:] == BACKGROUND).all()


def test_palette_png_with_a_transparent_index(tmp_path):
    im = Image.new("P", (4, 4), 0)
    im.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    im.putpixel((0, 0), 1)
    im.info["transparency"] = 0
    im.save(tmp_path / "p.png", transparency=0)
    out = load_image(tmp_path / "p.png", 4)
    assert tuple(out[0, 0]) == (200, 10, 10) and tuple(out[3, 3]) == BACKGROUND


def test_cmyk_and_greyscale_jpegs_keep_their_intensities(tmp_path):
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
    Image.fromarray(grey).save(tmp_path / "l.jpg", quality=100)
    out = load_image(tmp_path / "l.jpg", 64).astype(int)
    assert np.abs(out[..., 0] - grey).max() <= 3
    Image.fromarray(np.stack([grey] * 3, -1)).convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    assert np.abs(load_image(tmp_path / "c.jpg", 64).astype(int)[..., 1] - grey).mean() < 4


def test_a_photo_s_exif_orientation_is_honoured(tmp_path):
    from workflow_scripts.predict import open_photo

    img = Image.new("RGB", (60, 40), (200, 10, 10))
    img.paste((0, 0, 255), (0, 0, 12, 12))  # a blue block in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: show the pixels rotated 90 degrees clockwise
    img.save(tmp_path / "turned.jpg", exif=exif, quality=100)
    photo = open_photo(tmp_path / "turned.jpg")
    assert photo.status == "ok" and photo.image.size == (40, 60)
    # rotated clockwise, the stored top-left corner is now top right
    assert photo.image.getpixel((35, 4))[2] > 150 and photo.image.getpixel((4, 4))[2] < 100
