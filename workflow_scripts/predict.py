"""Age and gender of the faces in anyone's photos, with a trained model.

Each photo: EXIF orientation applied, converted like the training images (`imageio.to_rgb`), faces found
and aligned like UTKFace's crops (`faces`), each face resized by the training's own code
(`preprocess.to_model_input`), all faces of a run batched through the model. One CSV row per face; a photo
that cannot be used gets one row with its status and the reason, and the run goes on.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageOps

from .evaluate import GENDER_THRESHOLD
from .imageio import UnusableImageError, to_rgb
from .labels import GENDERS

log = logging.getLogger("utkface.predict")

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
MAX_PIXELS = 40_000_000  # larger photos are refused: decompression bombs and memory
COLUMNS = [
    "file",
    "face",
    "status",
    "reason",
    "box_x",
    "box_y",
    "box_w",
    "box_h",
    "detector_confidence",
    "predicted_age",
    "p_female",
    "gender",
    "model",
]


@dataclass
class Photo:
    path: Path
    status: str = "ok"
    reason: str = ""
    faces: list[dict[str, Any]] = field(default_factory=list)
    image: Image.Image | None = None


def photo_files(inputs: list[str | os.PathLike]) -> list[Path]:
    """The photos named, and those in the folders named (recursively, by suffix), sorted."""
    out = []
    for item in map(Path, inputs):
        if item.is_dir():
            out += sorted(p for p in item.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
        else:
            out.append(item)
    return out


def open_photo(path: Path, max_pixels: int = MAX_PIXELS) -> Photo:
    """The photo as RGB with its EXIF orientation applied, or a Photo whose status says why not."""
    photo = Photo(path)
    try:
        with Image.open(path) as im:
            if im.width * im.height > max_pixels:
                raise UnusableImageError(f"{im.width}x{im.height} pixels, over the limit of {max_pixels:,}")
            im.load()
            photo.image = to_rgb(ImageOps.exif_transpose(im))
    except FileNotFoundError:
        photo.status, photo.reason = "unreadable", "no such file"
    except UnusableImageError as err:
        photo.status, photo.reason = "unusable", str(err)
    except Image.DecompressionBombError as err:
        photo.status, photo.reason = "unusable", str(err)
    except (OSError, ValueError, SyntaxError) as err:
        photo.status, photo.reason = (
            "unreadable",
            f"not an image, or a damaged one ({type(err).__name__}: {err})",
        )
    return photo


def face_crops(photo: Photo, detector, aligned: bool) -> list[Image.Image]:
    """200x200 aligned crops of the photo's faces (the whole photo with --aligned), faces noted on it."""
    from .faces import CROP, align

    if aligned:
        w, h = photo.image.size
        photo.faces = [{"box": [0, 0, w, h], "confidence": float("nan"), "keypoints": None}]
        return [photo.image.resize((CROP, CROP), Image.Resampling.BILINEAR)]
    photo.faces = detector.detect(np.asarray(photo.image))
    if not photo.faces:
        photo.status, photo.reason = "no face", "no face found"
    return [align(photo.image, f["keypoints"]) for f in photo.faces]


def predict_photos(
    paths: list[Path],
    model,
    model_id: str,
    detector=None,
    aligned: bool = False,
    batch_size: int = 64,
    interpolation: str = "bilinear",
    progress: bool = True,
) -> tuple[pd.DataFrame, list[Photo]]:
    """One row per face (or per unusable photo), and the photos with their faces for annotation."""
    from tqdm import tqdm

    from .decode import to_model_input

    size = int(model.input_shape[1])
    photos, inputs = [], []
    for path in tqdm(paths, desc="photos", unit="photo", disable=not progress or len(paths) < 2):
        photo = open_photo(path)
        if photo.image is not None:
            inputs += [
                to_model_input(crop, size, interpolation) for crop in face_crops(photo, detector, aligned)
            ]
        photos.append(photo)
    ages, probs = _run_model(model, np.stack(inputs) if inputs else None, batch_size)
    rows, j = [], 0  # j: the model output of the next face, in the order the faces were batched
    for photo in photos:
        if not photo.faces:
            rows.append(
                {
                    "file": str(photo.path),
                    "face": None,
                    "status": photo.status,
                    "reason": photo.reason,
                    "model": model_id,
                }
            )
        for k, face in enumerate(photo.faces):
            rows.append(
                {
                    "file": str(photo.path),
                    "face": k,
                    "status": "ok",
                    "reason": "",
                    **dict(zip(("box_x", "box_y", "box_w", "box_h"), face["box"], strict=True)),
                    "detector_confidence": face["confidence"],
                    "predicted_age": float(ages[j]),
                    "p_female": float(probs[j]),
                    "gender": GENDERS[int(probs[j] >= GENDER_THRESHOLD)],
                    "model": model_id,
                }
            )
            j += 1
    return pd.DataFrame(rows, columns=COLUMNS), photos


def _run_model(model, x: np.ndarray | None, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    if x is None:
        return np.zeros(0), np.zeros(0)
    ages, probs = [], []
    for start in range(0, len(x), batch_size):
        out = model.predict_on_batch(x[start : start + batch_size].astype(np.float32))
        ages.append(np.asarray(out["age"]).reshape(-1))
        probs.append(np.asarray(out["gender"]).reshape(-1))
    return np.concatenate(ages), np.concatenate(probs)


def annotate(photo: Photo, rows: pd.DataFrame) -> Image.Image:
    """The photo with each face's box and its predicted age and gender."""
    im = photo.image.copy()
    d = ImageDraw.Draw(im)
    width = max(2, im.width // 250)
    for _, r in rows.iterrows():
        if r["status"] != "ok":
            continue
        x, y, w, h = (int(r[k]) for k in ("box_x", "box_y", "box_w", "box_h"))
        color = (214, 39, 40) if r["gender"] == "female" else (31, 119, 180)
        d.rectangle([x, y, x + w, y + h], outline=color, width=width)
        label = f"{r['predicted_age']:.0f} y, {r['gender']} ({r['p_female']:.2f})"
        d.rectangle([x, max(0, y - 14), x + 7 * len(label), y], fill=color)
        d.text((x + 2, max(0, y - 13)), label, fill=(255, 255, 255))
    return im


def gallery_html(table: pd.DataFrame, images: dict[str, str], title: str) -> str:
    """A small self-contained page: each annotated photo (a relative link) with its rows."""
    cards = []
    for file, rows in table.groupby("file", sort=True):
        lines = "".join(
            f"<li>face {int(r['face'])}: {r['predicted_age']:.1f} years, {html.escape(r['gender'])} "
            f"(p(female) {r['p_female']:.2f}, detector {r['detector_confidence']:.2f})</li>"
            if r["status"] == "ok"
            else f"<li>{html.escape(r['status'])}: {html.escape(str(r['reason']))}</li>"
            for _, r in rows.iterrows()
        )
        img = (
            f'<img src="{html.escape(images[file])}" alt="{html.escape(Path(file).name)}">'
            if file in images
            else ""
        )
        cards.append(
            f"<figure>{img}<figcaption><b>{html.escape(Path(file).name)}</b><ul>{lines}</ul>"
            "</figcaption></figure>"
        )
    style = (
        "body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#fbfcfe;color:#1d2433}"
        "main{max-width:1100px;margin:0 auto;padding:1rem}figure{background:#fff;border:1px solid #d9dee8;"
        "border-radius:6px;padding:.6rem;margin:0 0 1rem}img{max-width:100%;height:auto;display:block}"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title><style>{style}'
        f"</style></head><body><main><h1>{html.escape(title)}</h1>{''.join(cards)}</main></body></html>\n"
    )


def write_outputs(
    table: pd.DataFrame,
    photos: list[Photo],
    out_csv: Path,
    annotate_dir: Path | None,
    gallery: Path | None,
    title: str,
) -> None:
    """The CSV, the annotated photos and the gallery page (links relative to the page)."""
    from .fileio import atomic_path

    with atomic_path(out_csv, ".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
    images = {}
    if annotate_dir is not None:
        annotate_dir.mkdir(parents=True, exist_ok=True)
        for i, photo in enumerate(photos):
            if photo.image is None:
                continue
            dest = annotate_dir / f"{i:04d}_{photo.path.stem}.jpg"
            annotate(photo, table[table["file"] == str(photo.path)]).save(dest, quality=90)
            if gallery is not None:
                images[str(photo.path)] = os.path.relpath(dest, gallery.parent)
    if gallery is not None:
        with atomic_path(gallery, ".html") as tmp:
            tmp.write_text(gallery_html(table, images, title))


def run_cli(a: argparse.Namespace, model_path: str, model_id: str) -> int:
    """`utkface predict` and the `predict` rule: returns the exit status (1 when no photo could be read)."""
    from .tfsetup import configure_tensorflow

    configure_tensorflow()
    import keras

    from . import models  # noqa: F401 - registers the custom layers for loading
    from .faces import Detector

    paths = photo_files(a.inputs)
    if not paths:
        raise SystemExit(f"ERROR: no photo found in {', '.join(map(str, a.inputs))}")
    model = keras.models.load_model(model_path)
    detector = None if a.aligned else Detector()
    table, photos = predict_photos(paths, model, model_id, detector, a.aligned, a.batch_size, a.interpolation)
    write_outputs(
        table,
        photos,
        Path(a.out),
        Path(a.annotate) if a.annotate else None,
        Path(a.gallery) if a.gallery else None,
        f"Predictions of {model_id}",
    )
    ok = table[table["status"] == "ok"]
    log.info("%d photos, %d faces; %d photos not usable", len(paths), len(ok), table["face"].isna().sum())
    readable = sum(p.image is not None for p in photos)
    return 0 if readable else 1
