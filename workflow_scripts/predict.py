"""Age and gender of the faces in anyone's photos, with a trained model.

Which files: each file named, and every file in each folder named, walked exactly as the labels step
walks its image folder (`folders.scan`: hidden files and macOS debris skipped, symlinked folders
followed once). Only regular files are opened: a FIFO, socket, device or broken link gets a row
(status `unreadable`) saying what it is, and a folder's file without a photo suffix a row `skipped`.

Each photo, one at a time: EXIF orientation applied, converted like the training images
(`imageio.to_rgb`), faces found on a copy of at most DETECT_PIXELS (what MTCNN needs, whatever the
photo's size), aligned like UTKFace's crops from the full-resolution photo (`faces`), resized by the
training's own code (`preprocess.to_model_input`). The photo is then let go: only the faces' small model
inputs and, for `--annotate`, the detector's copy wait for the model, which runs every `batch_size` faces
or PHOTO_BATCH photos, so memory does not grow with the number of photos.

One CSV row per face; a photo that cannot be used gets one row with its status and the reason, and the
run goes on. Text cells starting with one of FORMULA_START get a leading `'`, so that a spreadsheet
shows a file name such as `=cmd.jpg` instead of running it as a formula; lines end in CRLF, so that a
name holding a line break stays in its quoted cell.

`--annotate` is a folder written as a whole (`fileio.owned_dir`): new, empty, or with `--force` an earlier
one of ours; `--out` and `--gallery` may lie inside it, and are then part of it.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageOps

from .imageio import UnusableImageError, to_rgb
from .inference import GENDER_THRESHOLD, predict_batches
from .labeltable import GENDERS

log = logging.getLogger("utkface.predict")

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
# Larger photos are refused (decompression bombs). Each photo is decoded alone, at 3 bytes a pixel (and
# once more while its EXIF orientation is applied): at most 240 MB, whatever the number of photos.
MAX_PIXELS = 40_000_000
# The detector sees the photo scaled down to at most this many pixels (MTCNN's memory and time grow with
# the pixels: 2.35 GB for a 12 MP photo). MTCNN finds faces of 20 pixels and more, so a face 50 pixels
# wide in a 12 MP photo is still found; the crop is then taken from the full-resolution photo. The
# annotated copies are drawn on this copy too (a gallery needs no more).
DETECT_PIXELS = 2_000_000
PHOTO_BATCH = 8  # photos whose annotated copy waits for the model at most (8 x 6 MB)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet takes as the start of a formula
GALLERY_TEMPLATE = Path(__file__).resolve().parents[1] / "report" / "gallery.html.j2"
MAX_STEM = 80  # characters of a photo's name kept in its annotated copy's name
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
WRITER = "utkface predict --annotate"


@dataclass
class Photo:
    path: Path
    status: str = "ok"
    reason: str = ""
    faces: list[dict[str, Any]] = field(default_factory=list)
    image: Image.Image | None = None  # full resolution, only while its faces are cropped
    preview: Image.Image | None = None  # the detector's copy, kept for --annotate until it is drawn
    scale: float = 1.0  # the detector's copy's pixels per photo pixel


def find_photos(inputs: list[str | os.PathLike]) -> list[Photo]:
    """A Photo for each file named and for each entry of each folder named (as `folders.scan` walks it,
    sorted); those that will not be opened already carry their status and reason."""
    from .folders import file_kind, scan

    out = []
    for item in map(Path, inputs):
        if item.is_dir():
            files, rejected = scan(item)
            refused = {r["path"]: r["reason"] for r in rejected}
            for rel in sorted([*files, *refused]):
                photo = Photo(item / rel)
                if rel in refused:
                    photo.status, photo.reason = "unreadable", refused[rel]
                elif photo.path.suffix.lower() not in SUFFIXES:
                    photo.status = "skipped"
                    photo.reason = f"not a photo file name (not one of {', '.join(sorted(SUFFIXES))})"
                out.append(photo)
            continue
        photo = Photo(item)
        kind = file_kind(item) if os.path.lexists(item) else "missing"
        if kind == "missing":
            photo.status, photo.reason = "unreadable", "no such file"
        elif kind != "regular":
            photo.status, photo.reason = "unreadable", f"not a regular file: {kind}"
        out.append(photo)
    return out


def check_outputs(a: argparse.Namespace, photos: list[Photo]) -> None:
    """Raise ValueError, naming the argument, unless `--out`, `--annotate` and `--gallery` can be written
    without harming anything: no input photo overwritten, no folder replaced that is not ours."""
    from .fileio import check_replaceable, check_writable

    inputs = {p.path.resolve() for p in photos if p.status == "ok"}
    files = {"--out": a.out, "--gallery": a.gallery}
    annotate = Path(a.annotate).resolve() if a.annotate else None
    for flag, name in files.items():
        if name is None:
            continue
        path = Path(name)
        what = f"{flag} {name}"
        if path.is_dir():
            raise ValueError(f"{what}: is a folder; give a file name")
        if path.resolve() in inputs:
            raise ValueError(f"{what}: is one of the photos to predict on; give another file name")
        if annotate is not None and path.resolve() == annotate:
            raise ValueError(f"{what}: the same as --annotate")
        check_writable(path, what)
    if a.gallery and Path(a.gallery).resolve() == Path(a.out).resolve():
        raise ValueError(f"--gallery {a.gallery}: the same file as --out")
    if a.annotate:
        check_replaceable(a.annotate, f"--annotate {a.annotate}", WRITER, a.force)


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


def detection_copy(image: Image.Image, max_pixels: int = DETECT_PIXELS) -> tuple[Image.Image, float]:
    """`image` scaled down to at most `max_pixels` (itself when it is small enough), and the scale."""
    w, h = image.size
    if w * h <= max_pixels:
        return image, 1.0
    scale = math.sqrt(max_pixels / (w * h))
    size = (max(1, math.floor(w * scale)), max(1, math.floor(h * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0), size[0] / w


def _in_photo(face: dict[str, Any], scale: float) -> dict[str, Any]:
    """A face found on the detector's copy, in the full photo's pixels."""
    if scale == 1.0:
        return face
    return {
        "box": [round(v / scale) for v in face["box"]],
        "confidence": face["confidence"],
        "keypoints": {k: [c / scale for c in xy] for k, xy in face["keypoints"].items()},
    }


def face_crops(photo: Photo, detector, aligned: bool, keep_preview: bool) -> list[Image.Image]:
    """200x200 aligned crops of the photo's faces (the whole photo with --aligned), the faces noted on it
    in the photo's pixels; the full-resolution image is let go, the detector's copy kept if asked."""
    from .faces import CROP, align

    image = photo.image
    small, scale = detection_copy(image) if keep_preview or not aligned else (None, 1.0)
    if aligned:
        w, h = image.size
        photo.faces = [{"box": [0, 0, w, h], "confidence": float("nan"), "keypoints": None}]
        crops = [image.resize((CROP, CROP), Image.Resampling.BILINEAR)]
    else:
        photo.faces = [_in_photo(f, scale) for f in detector.detect(np.asarray(small))]
        crops = [align(image, f["keypoints"]) for f in photo.faces]
        if not photo.faces:
            photo.status, photo.reason = "no face", "no face found"
    photo.image = None
    photo.preview, photo.scale = (small if keep_preview else None), scale
    return crops


def annotated_name(index: int, path: Path) -> str:
    """The annotated copy's file name: unique by `index`, the photo's name in safe characters, bounded."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", path.stem).strip("_")[:MAX_STEM] or "photo"
    return f"{index:04d}_{stem}.jpg"


def predict_photos(
    photos: list[Photo],
    model,
    model_id: str,
    detector=None,
    aligned: bool = False,
    batch_size: int = 64,
    interpolation: str = "bilinear",
    annotate_dir: Path | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per face (or per unusable photo), in the photos' order, and the names of the annotated
    copies written into `annotate_dir` by photo file. Photos stream through: at most PHOTO_BATCH of them,
    or `batch_size` faces, wait for the model at a time."""
    from tqdm import tqdm

    from .decode import to_model_input

    size = int(model.input_shape[1])
    rows: list[dict[str, Any]] = []
    images: dict[str, str] = {}
    pending: list[tuple[int, Photo]] = []
    inputs: list[np.ndarray] = []

    def flush() -> None:
        ages, probs = predict_batches(model, np.stack(inputs) if inputs else np.zeros(0), batch_size)
        j = 0  # the model output of the next face, in the order the faces were batched
        for index, photo in pending:
            n = len(photo.faces)
            found = _rows(photo, ages[j : j + n], probs[j : j + n], model_id)
            rows.extend(found)
            j += n
            if photo.preview is not None:
                name = annotated_name(index, photo.path)
                annotate(photo.preview, found, photo.scale).save(annotate_dir / name, quality=90)
                images[str(photo.path)] = name
                photo.preview = None
        pending.clear()
        inputs.clear()

    bar = tqdm(photos, desc="photos", unit="photo", disable=not progress or len(photos) < 2)
    for index, entry in enumerate(bar):
        photo = open_photo(entry.path) if entry.status == "ok" else entry
        if photo.image is not None:
            crops = face_crops(photo, detector, aligned, keep_preview=annotate_dir is not None)
            inputs.extend(to_model_input(crop, size, interpolation) for crop in crops)
        pending.append((index, photo))
        waiting = sum(p.preview is not None for _, p in pending)
        if len(inputs) >= batch_size or waiting >= PHOTO_BATCH:
            flush()
    flush()
    return pd.DataFrame(rows, columns=COLUMNS), images


def _rows(photo: Photo, ages: np.ndarray, probs: np.ndarray, model_id: str) -> list[dict[str, Any]]:
    if not photo.faces:
        return [{"file": str(photo.path), "face": None, "status": photo.status, "reason": photo.reason,
                 "model": model_id}]  # fmt: skip
    return [
        {
            "file": str(photo.path),
            "face": k,
            "status": "ok",
            "reason": "",
            **dict(zip(("box_x", "box_y", "box_w", "box_h"), face["box"], strict=True)),
            "detector_confidence": face["confidence"],
            "predicted_age": float(age),
            "p_female": float(p),
            "gender": GENDERS[int(p >= GENDER_THRESHOLD)],
            "model": model_id,
        }
        for k, (face, age, p) in enumerate(zip(photo.faces, ages, probs, strict=True))
    ]


def annotate(image: Image.Image, rows: list[dict[str, Any]], scale: float = 1.0) -> Image.Image:
    """A copy of `image` (the photo at `scale`) with each face's box and its predicted age and gender."""
    im = image.copy()
    d = ImageDraw.Draw(im)
    width = max(2, im.width // 250)
    for r in rows:
        if r["status"] != "ok":
            continue
        x, y, w, h = (round(r[k] * scale) for k in ("box_x", "box_y", "box_w", "box_h"))
        color = (214, 39, 40) if r["gender"] == "female" else (31, 119, 180)
        d.rectangle([x, y, x + w, y + h], outline=color, width=width)
        label = f"{r['predicted_age']:.0f} y, {r['gender']} ({r['p_female']:.2f})"
        d.rectangle([x, max(0, y - 14), x + 7 * len(label), y], fill=color)
        d.text((x + 2, max(0, y - 13)), label, fill=(255, 255, 255))
    return im


def gallery_html(
    table: pd.DataFrame, images: dict[str, str], title: str, template: str | os.PathLike = GALLERY_TEMPLATE
) -> str:
    """A small self-contained page (report/gallery.html.j2): each annotated photo (a relative link) with its
    rows."""
    from .comparison import render_html

    cards = []
    for file, rows in table.groupby("file", sort=True):
        lines = [
            {"ok": True, "face": int(r["face"]), "age": f"{r['predicted_age']:.1f}", "gender": r["gender"],
             "p_female": f"{r['p_female']:.2f}", "confidence": f"{r['detector_confidence']:.2f}"}
            if r["status"] == "ok"
            else {"ok": False, "status": r["status"], "reason": str(r["reason"])}
            for _, r in rows.iterrows()
        ]  # fmt: skip
        cards.append({"name": Path(file).name, "src": images.get(file), "rows": lines})
    return render_html(template, {"title": title, "cards": cards})


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with a `'` before every text cell that a spreadsheet would run as a formula."""

    def safe(value: Any) -> Any:
        return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value

    out = table.copy()
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].map(safe)
    return out


def _inside(path: Path, folder: Path | None) -> bool:
    return folder is not None and folder.resolve() in path.resolve().parents


def write_outputs(
    table: pd.DataFrame,
    images: dict[str, str],
    out_csv: Path,
    annotate_dir: Path | None,
    gallery: Path | None,
    title: str,
    staging: Path | None = None,
    template: str | os.PathLike = GALLERY_TEMPLATE,
) -> None:
    """The CSV and the gallery page (its links to the annotated copies relative to it). Without
    `staging`, those of them outside `annotate_dir`; with it (the folder about to take the place of
    `annotate_dir`), those inside, written into it so that they belong to that output.

    The CSV's lines end in CRLF (RFC 4180), so that a cell holding a line break of any kind is quoted."""
    from .fileio import atomic_path

    def write_csv(tmp: Path) -> None:
        spreadsheet_safe(table).to_csv(tmp, index=False, float_format="%.6g", lineterminator="\r\n")

    def write_page(tmp: Path) -> None:
        links = {f: os.path.relpath(annotate_dir / name, gallery.parent) for f, name in images.items()}
        tmp.write_text(gallery_html(table, links, title, template))

    for path, write, suffix in ((out_csv, write_csv, ".csv"), (gallery, write_page, ".html")):
        if path is None or _inside(path, annotate_dir) != (staging is not None):
            continue
        if staging is not None:
            path = staging / path.resolve().relative_to(annotate_dir.resolve())
        with atomic_path(path, suffix) as tmp:
            write(tmp)


def run_cli(a: argparse.Namespace, photos: list[Photo], model, model_id: str) -> int:
    """`utkface predict` and the `predict` rule, once its arguments are checked (`cli`): returns the exit
    status (1 when no photo could be read)."""
    import contextlib

    from .faces import Detector
    from .fileio import owned_dir

    detector = None if a.aligned else Detector()
    out, title = Path(a.out), f"Predictions of {model_id}"
    template = a.gallery_template or GALLERY_TEMPLATE
    annotate_dir, gallery = (
        (Path(a.annotate) if a.annotate else None),
        (Path(a.gallery) if a.gallery else None),
    )
    with contextlib.ExitStack() as stack:
        staging = None
        if annotate_dir is not None:
            what = f"--annotate {a.annotate}"
            staging = stack.enter_context(owned_dir(annotate_dir, what, WRITER, a.force))
        table, images = predict_photos(
            photos, model, model_id, detector, a.aligned, a.batch_size, a.interpolation, staging
        )
        if staging is not None:
            write_outputs(table, images, out, annotate_dir, gallery, title, staging, template)
    write_outputs(table, images, out, annotate_dir, gallery, title, template=template)
    ok = table[table["status"] == "ok"]
    log.info("%d files, %d faces; %d files not usable", len(photos), len(ok), table["face"].isna().sum())
    return 0 if table["status"].isin(["ok", "no face"]).any() else 1
