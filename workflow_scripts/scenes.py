"""Scenes with several real faces for the demo's prediction gallery and the tests: the astronaut portrait
that scikit-image ships (NASA, public domain) cut around its face and pasted at random scales, positions
and small rotations into a larger picture. The synthetic cartoon faces are not used: MTCNN, trained on
photos, does not find them."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from .fileio import atomic_dir, setup_logging
from .step import run

log = logging.getLogger("utkface.scenes")

# the astronaut's face in skimage/data/astronaut.png (512x512), with a margin: x0, y0, x1, y1
FACE_BOX = (150, 30, 300, 200)
SIZE = (960, 640)


def source_face() -> Image.Image:
    """The real face the scenes are made of (needs scikit-image, a dev dependency)."""
    try:
        import skimage
    except ImportError as err:
        raise SystemExit("ERROR: scenes need scikit-image (pip install -e '.[dev]')") from err
    path = Path(skimage.__file__).parent / "data" / "astronaut.png"
    return Image.open(path).convert("RGB").crop(FACE_BOX)


def make_scene(
    face: Image.Image, n_faces: int, rng: np.random.Generator
) -> tuple[Image.Image, list[list[float]]]:
    """One scene and the boxes [x, y, w, h] of the pasted faces (never overlapping)."""
    top, bottom = rng.uniform(60, 200, 3), rng.uniform(60, 200, 3)
    ramp = np.linspace(0, 1, SIZE[1])[:, None, None]
    bg = (top * (1 - ramp) + bottom * ramp) * np.ones((1, SIZE[0], 1))
    scene = Image.fromarray(bg.astype(np.uint8)).filter(ImageFilter.GaussianBlur(2))
    cols = np.linspace(0, SIZE[0], n_faces + 1)
    boxes = []
    for k in range(n_faces):
        scale = float(rng.uniform(0.8, 1.6))
        f = face.resize((int(face.width * scale), int(face.height * scale)), Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            f = f.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        # rotate with an alpha channel, so that only the corners the rotation adds stay transparent
        f = f.convert("RGBA").rotate(
            float(rng.uniform(-10, 10)), resample=Image.Resampling.BICUBIC, expand=True
        )
        mask = f.getchannel("A")
        f = f.convert("RGB")
        x = int(rng.uniform(cols[k], max(cols[k], cols[k + 1] - f.width)))
        y = int(rng.uniform(0, SIZE[1] - f.height))
        scene.paste(f, (x, y), mask)
        boxes.append([x, y, f.width, f.height])
    return scene, boxes


def make_scenes(out_dir: str | os.PathLike, n: int, seed: int = 0) -> list[dict]:
    """n JPEG scenes with 1-3 faces each in `out_dir` (replaced), and `scenes.json` with their boxes."""
    face = source_face()
    rng = np.random.default_rng(seed)
    truth = []
    with atomic_dir(out_dir) as tmp:
        for i in range(n):
            scene, boxes = make_scene(face, int(rng.integers(1, 4)), rng)
            name = f"scene_{i:02d}.jpg"
            scene.save(tmp / name, quality=92)
            truth.append({"file": name, "boxes": boxes})
        (tmp / "scenes.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    setup_logging()
    truth = make_scenes(a.out, a.n, a.seed)
    log.info("%d scenes with %d faces -> %s", len(truth), sum(len(t["boxes"]) for t in truth), a.out)


if __name__ == "__main__":
    run(main)
