"""The `utkface` command (installed by pyproject.toml), also what the `predict` and `export` rules run.

    utkface predict PHOTO|FOLDER... --model A|B|PATH [--out predictions.csv] [--annotate DIR] [--aligned]
    utkface export --model A|B|PATH --format onnx tflite savedmodel [--out DIR]

`--model A` (or B) is the trained model of a workflow run in this folder: `--results` (default
./results, where the workflow writes) `/models/A/seed_N/model.keras`, with `--seed` when several were
trained. Everything else takes a path to a `model.keras`.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from .fileio import setup_logging
from .step import run

log = logging.getLogger("utkface.cli")


def resolve_model(spec: str, results: str, seed: int | None) -> tuple[Path, str]:
    """(model file, an id for the outputs) from 'A', 'B' or a path."""
    if spec not in ("A", "B"):
        path = Path(spec)
        if not path.is_file():
            raise SystemExit(f"ERROR: --model {spec}: no such model file (or give A or B)")
        info = path.with_name("train_info.json")
        if info.is_file():
            meta = json.loads(info.read_text())
            return path, f"{meta['model']}_seed_{meta['seed']}"
        return path, path.stem
    found = sorted(Path(results).glob(f"models/{spec}/seed_*/model.keras"))
    seeds = {int(p.parent.name.removeprefix("seed_")): p for p in found}
    if seed is not None and seed in seeds:
        return seeds[seed], f"{spec}_seed_{seed}"
    if seed is None and len(seeds) == 1:
        ((only, path),) = seeds.items()
        return path, f"{spec}_seed_{only}"
    if not seeds:
        raise SystemExit(
            f"ERROR: --model {spec}: no trained model under {results}/models/{spec}/ (run the workflow here "
            "first, e.g. ./run.sh demo, or give --results or a path to a model.keras)"
        )
    raise SystemExit(f"ERROR: --model {spec}: trained for seeds {sorted(seeds)}; choose one with --seed")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="utkface", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("predict", "export"):
        s = sub.add_parser(name)
        s.add_argument("--model", required=True, help="A, B, or a path to a model.keras")
        s.add_argument("--seed", type=int, help="which seed's model, when several were trained")
        s.add_argument("--results", default="results", help="the workflow's results folder (for A and B)")
    pr = sub.choices["predict"]
    pr.add_argument("inputs", nargs="+", help="photos, or folders of photos")
    pr.add_argument("--out", default="predictions.csv")
    pr.add_argument("--annotate", help="a folder for the photos with boxes, ages and genders drawn")
    pr.add_argument("--gallery", help="an HTML page showing the annotated photos (needs --annotate)")
    pr.add_argument("--aligned", action="store_true", help="the photos are already aligned face crops")
    pr.add_argument("--batch-size", type=int, default=64)
    pr.add_argument("--interpolation", default="bilinear", help="as the model was trained (preprocess)")
    ex = sub.choices["export"]
    ex.add_argument(
        "--format",
        nargs="+",
        default=["keras", "savedmodel", "onnx", "tflite"],
        choices=["keras", "savedmodel", "onnx", "tflite"],
    )
    ex.add_argument("--out", help="output folder (default: export_<model id>)")
    ex.add_argument("--parity-images", help="a .npy of test images (uint8 N x S x S x 3) to check parity on")
    ex.add_argument("--parity-n", type=int, default=64)
    ex.add_argument("--card-template", help="report/model_card.md.j2, to write MODEL_CARD.md")
    ex.add_argument("--test-metrics", help="the model's test metrics.json, for the card")
    ex.add_argument("--train-info", help="its train_info.json, for the card")
    ex.add_argument("--splits", nargs=3, metavar=("TRAIN", "VAL", "TEST"), help="split CSVs, for the card")
    ex.add_argument("--config", default="{}", help="the workflow config as JSON, for the card")
    ex.add_argument("--commit", default="unknown")
    ex.add_argument("--synthetic", action="store_true")
    return p


def _export(a: argparse.Namespace, model: Path, model_id: str) -> None:
    import numpy as np

    from . import __version__
    from .export import export, model_card
    from .figure_names import MODEL_NAMES
    from .labels import read_labels

    out = Path(a.out or f"export_{model_id}")
    images = np.load(a.parity_images, mmap_mode="r")[: a.parity_n] if a.parity_images else None
    try:
        report = export(model, out, a.format, images)
    except ValueError as err:
        raise SystemExit(f"ERROR: {err}") from None
    for fmt, r in report.items():
        log.info(
            "%s: max |d age| %.2g, max |d p(female)| %.2g on %d images",
            fmt,
            r["max_abs_age"],
            r["max_abs_p_female"],
            r["n"],
        )
    if a.card_template:
        counts = {k: len(read_labels(p)) for k, p in zip(("train", "val", "test"), a.splits, strict=True)}
        test, info = (json.loads(Path(f).read_text()) for f in (a.test_metrics, a.train_info))
        extra = {
            "name": MODEL_NAMES.get(info["model"], info["model"]),
            "model_id": model_id,
            "version": __version__,
            "commit": a.commit,
            "synthetic": a.synthetic,
            "formats": a.format,
        }
        card = model_card(a.card_template, test, info, counts, json.loads(a.config), report, extra)
        (out / "MODEL_CARD.md").write_text(card)
    log.info("exported %s to %s", model_id, out)


def main(argv: list[str] | None = None) -> None:
    a = _parser().parse_args(argv)
    setup_logging()
    model, model_id = resolve_model(a.model, a.results, a.seed)
    if a.cmd == "predict":
        if a.gallery and not a.annotate:
            raise SystemExit("ERROR: --gallery shows the annotated photos: give --annotate DIR too")
        from .predict import run_cli

        raise SystemExit(run_cli(a, str(model), model_id))
    _export(a, model, model_id)


def entry() -> None:
    """The installed `utkface` command."""
    run(main)


if __name__ == "__main__":
    run(main)
