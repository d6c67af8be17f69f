"""Labels from UTKFace file names, `[age]_[gender]_[race]_[date&time].jpg.chip.jpg`.

gender: 0 = male, 1 = female; race: 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others.

Policy (documented in the README): a name is kept only when all four fields parse exactly. A name whose
age and gender still parse but that is otherwise malformed (a space, a missing dot, a missing race field)
is rejected, never repaired: the file name *is* the label, so a damaged name is a damaged label, and
the per-race metrics need every race. Undecodable or truncated images, ages outside
[min_age, max_age] and byte-identical duplicates (all but the first by path; all copies when their
names disagree on the labels) are rejected too. Every
rejected file is listed with its reason.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from .fileio import atomic_path, setup_logging
from .folders import scan
from .imageio import UnusableImageError, to_rgb
from .step import run

log = logging.getLogger("utkface.labels")

RACES = ("White", "Black", "Asian", "Indian", "Others")
GENDERS = ("male", "female")
LABEL_COLUMNS = ["path", "age", "gender", "race", "datetime"]
REJECT_COLUMNS = ["path", "reason"]

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


def reason_kind(reason: str) -> str:
    """A rejection reason without its details ('malformed name: ...' -> 'malformed name'), for counts."""
    return reason.split(":")[0].split(" of ")[0]


def check_image(path: str | os.PathLike) -> tuple[str, str | None]:
    """Return (sha1 of the bytes, None) if the image decodes to the end into usable pixels, else
    (sha1, reason); an unreadable file gives ("", reason). Never raises for one bad file."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        return "", f"unreadable file: {err.strerror or err}"
    digest = hashlib.sha1(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as im:
            # Decoding at 1/8 scale still reads every entropy-coded byte, so truncation is caught,
            # at a fraction of the cost of a full decode.
            im.draft("RGB", (1, 1))  # the smallest scale libjpeg offers: 1/8
            im.load()
            to_rgb(im)
    except UnusableImageError as err:
        return digest, f"unusable image: {err}"
    except UnidentifiedImageError:
        # Pillow's own message shows the in-memory buffer's address: a reason must not change between runs
        return digest, "undecodable image: not an image format Pillow can read"
    except Exception as err:  # noqa: BLE001 - any decoder failure means the same thing here
        return digest, f"undecodable image: {type(err).__name__}: {err}"
    return digest, None


def check_images(paths: list[Path], threads: int = 1) -> list[tuple[str, str | None]]:
    """`check_image` of each path, in order; in `threads` processes when there are enough images."""
    if threads > 1 and len(paths) > 200:
        # processes, not threads: Pillow's JPEG decoding barely overlaps under the GIL
        with ProcessPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(check_image, paths, chunksize=max(16, len(paths) // (8 * threads))))
    return [check_image(p) for p in paths]


def build_labels(
    root: str | os.PathLike, min_age: int = 1, max_age: int = 116, threads: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse and check every file under `root`. Returns (labels, rejected), both sorted by path."""
    root = Path(root)
    files, rejected = scan(root)
    rows = []
    candidates = []
    for rel in files:
        fields, reason = parse_name(Path(rel).name)
        if reason:
            rejected.append({"path": rel, "reason": reason})
        elif not min_age <= fields["age"] <= max_age:
            rejected.append({"path": rel, "reason": f"age {fields['age']} outside {min_age}-{max_age}"})
        else:
            candidates.append((rel, fields))
    checks = check_images([root / rel for rel, _ in candidates], threads)
    by_hash: dict[str, list[tuple[str, dict]]] = {}
    for (rel, fields), (digest, reason) in zip(candidates, checks, strict=True):
        if reason:
            rejected.append({"path": rel, "reason": reason})
        else:
            by_hash.setdefault(digest, []).append((rel, fields))
    for copies in by_hash.values():
        first, fields = copies[0]
        label_sets = {(f["age"], f["gender"], f["race"]) for _, f in copies}
        if len(label_sets) > 1:
            # Same pixels, different labels: no way to know which name is right, so keep none.
            names = ", ".join(rel for rel, _ in copies)
            rejected += [
                {"path": rel, "reason": f"byte-identical copies with conflicting labels: {names}"}
                for rel, _ in copies
            ]
            continue
        rows.append({"path": first, **fields})
        rejected += [{"path": rel, "reason": f"byte-identical duplicate of {first}"} for rel, _ in copies[1:]]
    # rows are in path order already: `scan` sorts, and each duplicate group is keyed by its first path
    labels = pd.DataFrame(rows, columns=LABEL_COLUMNS)
    rej = pd.DataFrame(rejected, columns=REJECT_COLUMNS).sort_values("path", ignore_index=True)
    labels["datetime"] = labels["datetime"].astype(str)
    return labels, rej


TABLE = "labels.csv"
_GENDER_WORDS = {"0": 0, "1": 1, "m": 0, "male": 0, "f": 1, "female": 1}


def labels_from_table(
    root: str | os.PathLike, min_age: int = 1, max_age: int = 116, threads: int = 1
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
    checks = check_images([root / r["path"] for r in rows], threads)
    kept = []
    for row, (_, reason) in zip(rows, checks, strict=True):
        if reason:
            rejected.append({"path": row["path"], "reason": reason})
        else:
            kept.append(row)
    labels = pd.DataFrame(kept, columns=LABEL_COLUMNS).sort_values("path", ignore_index=True)
    return labels, pd.DataFrame(rejected, columns=REJECT_COLUMNS).sort_values("path", ignore_index=True)


def read_labels(path: str | os.PathLike) -> pd.DataFrame:
    """Read a labels or split CSV with stable dtypes (datetime stays a string of digits)."""
    return pd.read_csv(
        path, dtype={"path": str, "age": "int64", "gender": "int64", "race": "int64", "datetime": str}
    )


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path, ".csv") as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--rejected", required=True)
    p.add_argument("--min-age", type=int, default=1)
    p.add_argument("--max-age", type=int, default=116)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    setup_logging()
    try:
        if (Path(a.images) / TABLE).is_file():
            labels, rejected = labels_from_table(a.images, a.min_age, a.max_age, a.threads)
        else:
            labels, rejected = build_labels(a.images, a.min_age, a.max_age, a.threads)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"ERROR: {err}") from None
    if labels.empty:
        raise SystemExit(f"ERROR: {a.images}: no usable UTKFace image found ({len(rejected)} rejected)")
    write_csv(labels, a.labels)
    write_csv(rejected, a.rejected)
    log.info("%d images labelled, %d rejected", len(labels), len(rejected))
    for reason, n in Counter(map(reason_kind, rejected["reason"])).most_common():
        log.info("  rejected %5d: %s", n, reason)


if __name__ == "__main__":
    run(main)
