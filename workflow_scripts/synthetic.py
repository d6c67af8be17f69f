"""A deterministic synthetic UTKFace: 200x200 RGB JPEG faces named exactly like the real set.

Drawn features carry the labels, so a small CNN really learns them:
- age: face roundness and eye size/height (children), grey hair (from ~35), forehead and cheek
  wrinkles (from ~25), a receding hairline (older men);
- gender: long hair falling beside the face, coloured lips (female); beard shadow, thick brows (male);
- race: skin and hair tone.
Pose, lighting, background and noise vary so that no single pixel gives the answer away.

`quirks=True` plants the real archive's defects: its 5 malformed names, a truncated JPEG and a
byte-identical duplicate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import io
import logging
import os
import shutil
import tarfile
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .fileio import atomic_dir, atomic_path, setup_logging
from .step import run

log = logging.getLogger("utkface.synthetic")

SIZE = 200
# The five malformed names of the real archive, with the age/gender/race their names suggest.
REAL_BAD_NAMES = [
    ("24_0_1_20170116220224657 .jpg.chip.jpg", 24, 0, 1),
    ("55_0_0_20170116232725357jpg.chip.jpg", 55, 0, 0),
    ("39_1_20170116174525125.jpg.chip.jpg", 39, 1, 0),
    ("61_1_20170109142408075.jpg.chip.jpg", 61, 1, 0),
    ("61_1_20170109150557335.jpg.chip.jpg", 61, 1, 0),
]
SKIN = [(236, 200, 175), (120, 80, 55), (225, 190, 150), (165, 115, 80), (200, 160, 125)]
HAIR = [(95, 65, 40), (25, 20, 18), (20, 18, 20), (30, 22, 18), (60, 40, 30)]
RACE_P = [0.42, 0.19, 0.15, 0.17, 0.07]


def sample_labels(n: int, seed: int) -> list[tuple[int, int, int, str]]:
    """(age, gender, race, datetime) for n faces; ages skewed like UTKFace (many 20-35, many babies)."""
    rng = np.random.default_rng(seed)
    groups = rng.choice(5, size=n, p=[0.12, 0.10, 0.45, 0.23, 0.10])
    lo = np.array([1, 6, 18, 41, 66])[groups]
    hi = np.array([5, 17, 40, 65, 100])[groups]
    ages = rng.integers(lo, hi + 1)
    genders = (rng.random(n) < 0.48).astype(int)
    races = rng.choice(5, size=n, p=RACE_P)
    start = dt.datetime(2016, 12, 1)
    seen: set[str] = set()
    out = []
    for i in range(n):
        while True:
            t = start + dt.timedelta(seconds=int(rng.integers(0, 60 * 86400)))
            stamp = t.strftime("%Y%m%d%H%M%S") + f"{int(rng.integers(0, 1000)):03d}"
            if stamp not in seen:
                seen.add(stamp)
                break
        out.append((int(ages[i]), int(genders[i]), int(races[i]), stamp))
    return out


def _mix(a: tuple, b: tuple, t: float) -> tuple[int, int, int]:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b, strict=True))


def draw_face(age: int, gender: int, race: int, rng: np.random.Generator) -> Image.Image:
    """One 200x200 RGB face whose drawn features depend on age, gender and race."""
    j = lambda s: float(rng.normal(0, s))  # noqa: E731 - jitter helper
    # Muted, greyish backgrounds like the real crops (where the face fills most of the frame).
    grey_bg = float(rng.uniform(120, 200))
    bg = tuple(int(np.clip(grey_bg + rng.normal(0, 15), 0, 255)) for _ in range(3))
    img = Image.new("RGB", (SIZE, SIZE), bg)
    d = ImageDraw.Draw(img)
    skin = _mix(SKIN[race], (255, 255, 255), float(np.clip(j(0.05), -0.1, 0.1)) + 0.02)
    hair = HAIR[race] if not (race == 0 and rng.random() < 0.4) else (170, 130, 70)
    grey = float(np.clip((age - 35) / 40 + j(0.08), 0, 1))
    hair = _mix(hair, (215, 215, 212), grey)
    child = float(np.clip((14 - age) / 12, 0, 1))  # 1 for babies, 0 from 14
    cx, cy = 100 + j(4), 106 + j(4)
    fh = 150 + j(5)
    fw = fh * (0.74 + 0.16 * child + (0.05 if gender == 0 else 0.0)) + j(3)
    top, bottom = cy - fh / 2, cy + fh / 2
    left, right = cx - fw / 2, cx + fw / 2

    # Long hair behind the face (women and girls past toddler age), short cap for men.
    long_hair = gender == 1 and age >= 4
    if long_hair:
        d.rounded_rectangle([left - 22, top - 10, right + 22, min(SIZE, bottom + 40)], 40, fill=hair)
    d.ellipse([left, top, right, bottom], fill=skin)
    hairline = top + fh * (0.18 + (0.10 if gender == 0 and age > 45 else 0.0) + 0.05 * child)
    if age >= 2:
        d.chord([left - 4, top - 14, right + 4, hairline + fh * 0.2], 180, 360, fill=hair)

    # Eyes: lower and larger in children.
    eye_y = top + fh * (0.42 + 0.10 * child)
    er = 7 + 5 * child
    for ex in (cx - fw * 0.22, cx + fw * 0.22):
        d.ellipse([ex - er * 1.4, eye_y - er, ex + er * 1.4, eye_y + er], fill=(245, 245, 245))
        d.ellipse([ex - er * 0.7, eye_y - er * 0.7, ex + er * 0.7, eye_y + er * 0.7], fill=(50, 35, 25))
        brow_w = 5 if gender == 0 else 2
        d.line([ex - er * 1.6, eye_y - er - 8, ex + er * 1.6, eye_y - er - 9], fill=hair, width=brow_w)

    # Wrinkles: forehead lines from 25, crow's feet and nasolabial folds from 40.
    line = _mix(skin, (40, 25, 20), 0.55)
    n_fore = int(np.clip((age - 22) / 9, 0, 6))
    for k in range(n_fore):
        y = hairline + 6 + k * 5
        d.arc([cx - fw * 0.3, y, cx + fw * 0.3, y + 14], 200, 340, fill=line, width=2)
    if age >= 40:
        for s in (-1, 1):
            d.line(
                [cx + s * fw * 0.16, eye_y + fh * 0.12, cx + s * fw * 0.26, eye_y + fh * 0.32],
                fill=line,
                width=2 + (age > 60),
            )
            d.line([cx + s * fw * 0.35, eye_y - 2, cx + s * fw * 0.44, eye_y + 4], fill=line, width=2)

    # Nose and mouth; beard shadow for adult men.
    d.line([cx, eye_y + 6, cx - 4, eye_y + fh * 0.2], fill=_mix(skin, (0, 0, 0), 0.3), width=3)
    mouth_y = eye_y + fh * (0.30 - 0.04 * child)
    if gender == 0 and age >= 17 and rng.random() < 0.7:
        beard = _mix(skin, hair, 0.6)
        d.chord([left + fw * 0.12, mouth_y - fh * 0.12, right - fw * 0.12, bottom + 2], 0, 180, fill=beard)
    lips = (185, 55, 75) if gender == 1 and age >= 13 else _mix(skin, (120, 60, 60), 0.45)
    d.ellipse([cx - fw * 0.16, mouth_y - 5, cx + fw * 0.16, mouth_y + 6], fill=lips)

    # Pose, light and sensor noise.
    img = img.rotate(j(5), resample=Image.Resampling.BILINEAR, fillcolor=bg)
    img = img.filter(ImageFilter.GaussianBlur(radius=0.6))
    arr = np.asarray(img, dtype=np.float32) * float(np.clip(1 + j(0.08), 0.75, 1.25))
    arr += rng.normal(0, 4, size=arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def camera(img: Image.Image, style: int) -> Image.Image:
    """Another camera and light for style > 0 (a colour cast, another exposure curve, less contrast): the
    same faces from elsewhere, a domain shift a model trained on style 0 should feel. Style 0 is as drawn."""
    if not style:
        return img
    srng = np.random.default_rng([7919, style])
    tint = srng.uniform(0.75, 1.25, 3)
    gamma = float(srng.uniform(0.6, 1.6))
    contrast = float(srng.uniform(0.6, 0.85))
    arr = 255.0 * (np.asarray(img, dtype=np.float32) / 255.0) ** gamma
    arr = (arr - 128.0) * contrast + 128.0
    return Image.fromarray(np.clip(arr * tint, 0, 255).astype(np.uint8))


def _render(job: tuple[int, int, list[tuple[str, int, int, int]], str, int]) -> int:
    seed, start, items, out, style = job
    for k, (name, age, gender, race) in enumerate(items):
        # One generator per image: the pixels do not depend on how the work is split.
        rng = np.random.default_rng([seed, start + k])
        Path(out, name).write_bytes(_jpeg(camera(draw_face(age, gender, race, rng), style)))
    return len(items)


def generate(
    out_dir: str | os.PathLike, n: int, seed: int = 0, quirks: bool = True, workers: int = 1, style: int = 0
) -> list[str]:
    """Write n faces (+ quirks) into `out_dir`; returns the file names written. `style` > 0 draws them as
    through another camera (`camera`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = [(f"{a}_{g}_{r}_{t}.jpg.chip.jpg", a, g, r) for a, g, r, t in sample_labels(n, seed)]
    if quirks:
        items += REAL_BAD_NAMES
    chunk = max(50, -(-len(items) // (4 * max(1, workers))))
    jobs = [(seed, s, items[s : s + chunk], str(out), style) for s in range(0, len(items), chunk)]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_render, jobs))
    else:
        list(map(_render, jobs))
    names = [it[0] for it in items]
    if quirks:
        # A truncated JPEG under a valid name, and a byte-identical copy under another valid name.
        trunc_src, dup_src = Path(out, names[0]), Path(out, names[1])
        trunc = "30_1_2_20170117000000001.jpg.chip.jpg"
        data = trunc_src.read_bytes()
        Path(out, trunc).write_bytes(data[: len(data) * 6 // 10])
        age, gender, race = items[1][1:4]  # same person, same labels, another timestamp
        dup = f"{age}_{gender}_{race}_20170117000000002.jpg.chip.jpg"
        shutil.copyfile(dup_src, Path(out, dup))
        names += [trunc, dup]
    return names


def pack(src_dir: str | os.PathLike, archive: str | os.PathLike, top: str = "UTKFace") -> None:
    """A reproducible .tar.gz (sorted members, fixed times and owners) with the files under `top/`."""
    src = Path(src_dir)
    with (
        atomic_path(archive, ".tar.gz") as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for f in sorted(src.iterdir()):
            info = tarfile.TarInfo(f"{top}/{f.name}")
            info.size = f.stat().st_size
            info.mtime, info.mode, info.uid, info.gid = 0, 0o644, 0, 0
            with open(f, "rb") as fh:
                tar.addfile(info, fh)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True, help=".tar.gz archive to write, or a folder with --folder")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-quirks", action="store_true")
    p.add_argument("--folder", action="store_true", help="write the images into a folder, no archive")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--style", type=int, default=0, help="0: as drawn; > 0: another camera (a domain shift)")
    a = p.parse_args(argv)
    setup_logging()
    if a.folder:
        with atomic_dir(a.out) as tmp:
            names = generate(tmp, a.n, a.seed, not a.no_quirks, a.workers, a.style)
    else:
        with tempfile.TemporaryDirectory(
            dir=Path(a.out).parent if Path(a.out).parent.exists() else None
        ) as tmp:
            names = generate(tmp, a.n, a.seed, not a.no_quirks, a.workers, a.style)
            pack(tmp, a.out)
    log.info("synthetic UTKFace: %d files -> %s", len(names), a.out)


if __name__ == "__main__":
    run(main)
