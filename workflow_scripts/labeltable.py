"""The labels table, without the images: its columns, the codes of gender and race, a rejection reason's
kind, and the CSV read and write. Training, evaluation, the splits and the report need only this; the
labelling itself (names, decoding, duplicates) is `labels`, which imports PIL and the image decoder."""

from __future__ import annotations

import os

import pandas as pd

from .fileio import atomic_path

RACES = ("White", "Black", "Asian", "Indian", "Others")
GENDERS = ("male", "female")
LABEL_COLUMNS = ["path", "age", "gender", "race", "datetime"]
REJECT_COLUMNS = ["path", "reason"]


def reason_kind(reason: str) -> str:
    """A rejection reason without its details ('malformed name: ...' -> 'malformed name'), for counts."""
    return reason.split(":")[0].split(" of ")[0]


def read_labels(path: str | os.PathLike) -> pd.DataFrame:
    """Read a labels or split CSV with stable dtypes (datetime stays a string of digits)."""
    return pd.read_csv(
        path, dtype={"path": str, "age": "int64", "gender": "int64", "race": "int64", "datetime": str}
    )


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path, ".csv") as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")
