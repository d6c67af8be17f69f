"""Labels from UTKFace file names, `[age]_[gender]_[race]_[date&time].jpg.chip.jpg`.

gender: 0 = male, 1 = female; race: 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others.

Policy (docs/method.md): a name is kept only when all four fields parse exactly. A name whose
age and gender still parse but that is otherwise malformed (a space, a missing dot, a missing race field)
is rejected, never repaired: the file name *is* the label, so a damaged name is a damaged label, and
the per-race metrics need every race. Undecodable or truncated images, ages outside
[min_age, max_age] and byte-identical duplicates (all but the first by path; all copies when their
names disagree on the labels) are rejected too. Every
rejected file is listed with its reason.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
from PIL import Image

from .decode import INTERPOLATION, decode_images, examine, gather, keep_rows
from .fileio import atomic_path, setup_logging
from .folders import scan
from .imageio import to_rgb
from .labeltable import LABEL_COLUMNS, RACES, REJECT_COLUMNS, reason_kind, write_csv
from .pausepoints import pause_point
from .step import run

log = logging.getLogger("utkface.labels")


_SUFFIX = r"\.jpg(?:\.chip\.jpg)?"
# re.ASCII: \d would otherwise take other scripts' digits ('３８' is not the age 38 in a name)
_NAME = re.compile(rf"^(?P<age>\d+)_(?P<gender>\d+)_(?P<race>\d+)_(?P<datetime>\d+){_SUFFIX}$", re.ASCII)
_NO_DOT = re.compile(r"^\d+_\d+_\d+_\d+jpg(?:\.chip\.jpg)?$", re.ASCII)
_THREE_FIELDS = re.compile(rf"^\d+_\d+_\d+{_SUFFIX}$", re.ASCII)


def parse_name(name: str) -> tuple[dict | None, str | None]:
    """Return (fields, None) for a well-formed name, else (None, reason)."""
    if any(c.isspace() for c in name):
        return None, "malformed name: contains white space"
    m = _NAME.match(name)
    if m is None:
        if _NO_DOT.match(name):
            return None, "malformed name: missing '.' before 'jpg'"
        if _THREE_FIELDS.match(name):
            return None, "malformed name: 3 fields instead of 4 (no race field)"
        if not name.lower().endswith(".jpg"):
            return None, "not a JPEG file name"
        return None, "malformed name: not AGE_GENDER_RACE_DATETIME.jpg.chip.jpg"
    gender, race = int(m["gender"]), int(m["race"])
    if gender not in (0, 1):
        return None, f"malformed name: gender {gender} is not 0 or 1"
    if not 0 <= race < len(RACES):
        return None, f"malformed name: race {race} is not 0-4"
    return {"age": int(m["age"]), "gender": gender, "race": race, "datetime": m["datetime"]}, None


def _decode_at_one_eighth(file: IO[bytes]) -> None:
    with Image.open(file) as im:
        # Decoding at 1/8 scale still reads every entropy-coded byte, so truncation is caught,
        # at a fraction of the cost of a full decode.
        im.draft("RGB", (1, 1))  # the smallest scale libjpeg offers: 1/8
        im.load()
        to_rgb(im)


def check_image(path: str | os.PathLike) -> tuple[str, str | None]:
    """Return (sha1 of the bytes, None) if the image decodes to the end into usable pixels, else
    (sha1, reason); an unreadable file gives ("", reason). Never raises for one bad file."""
    digest, reason, _ = examine(path, _decode_at_one_eighth)
    return digest, reason


def check_images(paths: list[Path], threads: int = 1) -> list[tuple[str, str | None]]:
    """`check_image` of each path, in order; in `threads` processes when there are enough images."""
    if threads > 1 and len(paths) > 200:
        # processes, not threads: Pillow's JPEG decoding barely overlaps under the GIL
        with ProcessPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(check_image, paths, chunksize=max(16, len(paths) // (8 * threads))))
    return [check_image(p) for p in paths]


@dataclass(frozen=True)
class Pixels:
    """Keep the pixels of the accepted images: `out` (.npy), row i = labels row i, at `size` px.

    The check then decodes each image in full, once (`decode.decode_images`), instead of the cheaper
    1/8-scale check: worth it whenever most labelled images go on to the splits (the default: the test
    split takes all that training and validation leave)."""

    out: Path
    size: int
    interpolation: str = "bilinear"


@contextlib.contextmanager
def _checker(pixels: Pixels | None, threads: int):
    """Yield check(paths) -> [(sha1, reason)], decoding into a scratch array when `pixels` is set, and
    keep(rows), which makes those rows, in that order, the output array (written when the block ends)."""
    if pixels is None:
        yield (lambda paths: check_images(paths, threads)), (lambda rows: None)
        return
    with atomic_path(pixels.out, ".npy") as scratch:

        def check(paths: list[Path]) -> list[tuple[str, str | None]]:
            return decode_images(paths, scratch, pixels.size, pixels.interpolation, threads)

        def keep(kept_rows: list[int]) -> None:
            rows = np.asarray(kept_rows, dtype=np.int64)
            if (np.diff(rows) > 0).all():  # build_labels: the candidates' order
                keep_rows(scratch, rows)
                pause_point("pixels-kept")
                return
            kept = scratch.with_name(f"{scratch.stem}-kept.npy")  # a name atomic_path clears if left
            try:
                gather(np.load(scratch, mmap_mode="r"), rows, kept)
                os.replace(kept, scratch)
                pause_point("pixels-kept")
            finally:
                kept.unlink(missing_ok=True)

        yield check, keep


def _unique(
    candidates: list[tuple[str, dict]], checks: list[tuple[str, str | None]]
) -> tuple[list[dict], list[int], list[dict]]:
    """(label rows, their indices in `candidates`, rejections) of the checked candidates: undecodable
    images and byte-identical copies are rejected; rows stay in the candidates' order."""
    rejected = []
    by_hash: dict[str, list[tuple[int, str, dict]]] = {}
    for i, ((rel, fields), (digest, reason)) in enumerate(zip(candidates, checks, strict=True)):
        if reason:
            rejected.append({"path": rel, "reason": reason})
        else:
            by_hash.setdefault(digest, []).append((i, rel, fields))
    rows, kept = [], []
    for copies in by_hash.values():  # each group is keyed at its first (lowest) candidate
        i, first, fields = copies[0]
        if len({(f["age"], f["gender"], f["race"]) for _, _, f in copies}) > 1:
            # Same pixels, different labels: no way to know which name is right, so keep none.
            names = ", ".join(rel for _, rel, _ in copies)
            reason = f"byte-identical copies with conflicting labels: {names}"
            rejected += [{"path": rel, "reason": reason} for _, rel, _ in copies]
            continue
        rows.append({"path": first, **fields})
        kept.append(i)
        rejected += [
            {"path": rel, "reason": f"byte-identical duplicate of {first}"} for _, rel, _ in copies[1:]
        ]
    return rows, kept, rejected


def build_labels(
    root: str | os.PathLike,
    min_age: int = 1,
    max_age: int = 116,
    threads: int = 1,
    pixels: Pixels | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse and check every file under `root`. Returns (labels, rejected), both sorted by path."""
    root = Path(root)
    files, rejected = scan(root)
    candidates = []
    for rel in files:
        fields, reason = parse_name(Path(rel).name)
        if reason:
            rejected.append({"path": rel, "reason": reason})
        elif not min_age <= fields["age"] <= max_age:
            rejected.append({"path": rel, "reason": f"age {fields['age']} outside {min_age}-{max_age}"})
        else:
            candidates.append((rel, fields))
    with _checker(pixels, threads) as (check, keep):
        checks = check([root / rel for rel, _ in candidates])
        rows, kept, dropped = _unique(candidates, checks)
        keep(kept)
    rejected += dropped
    labels = pd.DataFrame(rows, columns=LABEL_COLUMNS)
    rej = pd.DataFrame(rejected, columns=REJECT_COLUMNS).sort_values("path", ignore_index=True)
    labels["datetime"] = labels["datetime"].astype(str)
    return labels, rej


TABLE = "labels.csv"
_GENDER_WORDS = {"0": 0, "1": 1, "m": 0, "male": 0, "f": 1, "female": 1}


def labels_from_table(
    root: str | os.PathLike,
    min_age: int = 1,
    max_age: int = 116,
    threads: int = 1,
    pixels: Pixels | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels of a folder of images with any names, given by `<root>/labels.csv` (file,age,gender[,race];
    gender 0/1 or male/female, race 0-4, blank when unknown, kept as -1). The same checks as for UTKFace
    names: unreadable files, ages out of range and bad values are rejected with their reason."""
    root = Path(root)
    table = pd.read_csv(root / TABLE, dtype=str, keep_default_na=False)
    missing = {"file", "age", "gender"} - set(table.columns)
    if missing:
        raise ValueError(f"{root / TABLE}: needs the columns file, age, gender (missing {sorted(missing)})")
    rows, rejected = [], []
    for rec in table.to_dict("records"):
        rel, age, gender = rec["file"].strip(), rec["age"].strip(), rec["gender"].strip().lower()
        race = rec.get("race", "").strip()
        if not age.isascii() or not age.isdigit() or not min_age <= int(age) <= max_age:
            reason = f"age {age!r} is not a whole number in {min_age}-{max_age}"
            rejected.append({"path": rel, "reason": reason})
        elif gender not in _GENDER_WORDS:
            rejected.append({"path": rel, "reason": f"gender {gender!r} is not 0/1 or male/female"})
        elif race not in ("", "0", "1", "2", "3", "4"):
            rejected.append({"path": rel, "reason": f"race {race!r} is not 0-4"})
        else:
            rows.append({"path": rel, "age": int(age), "gender": _GENDER_WORDS[gender],
                         "race": int(race) if race else -1, "datetime": ""})  # fmt: skip
    with _checker(pixels, threads) as (check, keep):
        checks = check([root / r["path"] for r in rows])
        kept = []
        for i, (row, (_, reason)) in enumerate(zip(rows, checks, strict=True)):
            if reason:
                rejected.append({"path": row["path"], "reason": reason})
            else:
                kept.append({**row, "row": i})
        labels = pd.DataFrame(kept, columns=[*LABEL_COLUMNS, "row"]).sort_values("path", ignore_index=True)
        keep(labels.pop("row").tolist())
    return labels, pd.DataFrame(rejected, columns=REJECT_COLUMNS).sort_values("path", ignore_index=True)


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--rejected", required=True)
    p.add_argument("--min-age", type=int, default=1)
    p.add_argument("--max-age", type=int, default=116)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--pixels", help="also write the accepted images' pixels here (.npy), decoded once")
    p.add_argument("--size", type=int, help="side of the pixel array's images (with --pixels)")
    p.add_argument("--interpolation", default="bilinear", choices=sorted(INTERPOLATION))
    a = p.parse_args(argv)
    if a.pixels and not a.size:
        p.error("--pixels needs --size")
    setup_logging()
    pixels = Pixels(Path(a.pixels), a.size, a.interpolation) if a.pixels else None
    try:
        if (Path(a.images) / TABLE).is_file():
            labels, rejected = labels_from_table(a.images, a.min_age, a.max_age, a.threads, pixels)
        else:
            labels, rejected = build_labels(a.images, a.min_age, a.max_age, a.threads, pixels)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise SystemExit(f"ERROR: {err}") from None
    if labels.empty:
        raise SystemExit(f"ERROR: {a.images}: no usable UTKFace image found ({len(rejected)} rejected)")
    write_csv(labels, a.labels)
    write_csv(rejected, a.rejected)
    log.info("%d images labelled, %d rejected", len(labels), len(rejected))
    if pixels:
        log.info("%s: their pixels, %dx%d, decoded once", pixels.out, pixels.size, pixels.size)
    for reason, n in Counter(map(reason_kind, rejected["reason"])).most_common():
        log.info("  rejected %5d: %s", n, reason)


if __name__ == "__main__":
    run(main)
