"""A split's images as the uint8 array (N, S, S, 3), RGB, memory-mappable `.npy` that training reads.

Row i of `<split>_images.npy` is row i of the split's CSV. The pixels come from the labels step's array
(`labels --pixels`: every accepted image decoded once); this step gathers the split's rows, no decoding.
"""

from __future__ import annotations

import argparse
import logging
import os

import numpy as np
import pandas as pd

from .decode import gather
from .fileio import atomic_path, setup_logging
from .labeltable import read_labels
from .step import run

log = logging.getLogger("utkface.preprocess")


def split_rows(labels: pd.DataFrame, split: pd.DataFrame, where: str) -> np.ndarray:
    """The labels row of each split image, in the split's order; an image that is not labelled (or a split
    that repeats one) is an error naming `where`."""
    rows = pd.Index(labels["path"]).get_indexer(split["path"])
    missing = split["path"][rows < 0].tolist()
    if missing:
        raise ValueError(
            f"{where}: {len(missing)} images are not in the labels (first: {missing[0]}): "
            "the split was made from other labels; rerun the splits"
        )
    repeated = split["path"][split["path"].duplicated()].tolist()
    if repeated:
        raise ValueError(f"{where}: {len(repeated)} images appear twice (first: {repeated[0]})")
    return rows


def preprocess(
    labels_csv: str | os.PathLike,
    pixels: str | os.PathLike,
    split_csv: str | os.PathLike,
    out: str | os.PathLike,
) -> int:
    """Write `out` (.npy): the rows of `pixels` (row i = row i of `labels_csv`) of the split's images, in
    the split's order. Returns the image count."""
    labels = read_labels(labels_csv)
    src = np.load(pixels, mmap_mode="r")
    if src.ndim != 4 or len(src) != len(labels):
        raise ValueError(
            f"{pixels}: {src.shape[0] if src.ndim else 0} rows of shape {src.shape[1:]} for the "
            f"{len(labels)} images of {labels_csv}: not that step's pixel array; rerun the labels step"
        )
    rows = split_rows(labels, read_labels(split_csv), str(split_csv))
    with atomic_path(out, ".npy") as tmp:
        gather(src, rows, tmp)
    log.info("%s: %d images at %dx%d", out, len(rows), src.shape[1], src.shape[2])
    return len(rows)


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--labels", required=True)
    p.add_argument("--pixels", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    setup_logging()
    try:
        preprocess(a.labels, a.pixels, a.split, a.out)
    except (RuntimeError, ValueError) as err:
        raise SystemExit(f"ERROR: {err}") from None


if __name__ == "__main__":
    run(main)
