"""Any image Pillow opens, as 8-bit RGB with its intensities kept: the one conversion used by the label
check, preprocessing and prediction, so that they cannot disagree on what an image looks like.

`Image.convert("RGB")` alone clips 16-bit greyscale to white and drops alpha to whatever colour the
transparent pixels happen to hold; here high-bit-depth images are scaled and transparency is laid on white.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# where a transparent pixel shows: white, as a photo's empty background usually is
BACKGROUND = (255, 255, 255)
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA = {"LA", "La", "RGBA", "RGBa", "PA"}


class UnusableImageError(ValueError):
    """The image decodes, but has no defined mapping to 8-bit RGB (e.g. 32-bit float pixels)."""


def _grey16_to_rgb(values: np.ndarray) -> Image.Image:
    grey = np.rint(values.astype(np.float64) / 257.0).astype(np.uint8)  # 0..65535 -> 0..255
    return Image.fromarray(grey, "L").convert("RGB")


def to_rgb(im: Image.Image) -> Image.Image:
    """`im` as mode RGB. 16-bit greyscale is scaled (65535 -> 255); 32-bit integer greyscale is taken as
    16-bit when its values fit, else refused; float images are refused (UnusableImageError says why)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in _SIXTEEN_BIT:
        return _grey16_to_rgb(np.asarray(im))
    if mode == "I":
        values = np.asarray(im)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise UnusableImageError(
                f"32-bit integer pixels from {values.min()} to {values.max()}: no known 8-bit scale"
            )
        return _grey16_to_rgb(values)
    if mode == "F":
        raise UnusableImageError("32-bit floating-point pixels: no known 8-bit scale")
    if mode in _ALPHA or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(flat, rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV: Pillow's conversions are exact enough
