"""The `utkface` command (installed by pyproject.toml), also what the `predict` and `export` rules run.

    utkface predict PHOTO|FOLDER... --model A|B|PATH [--out predictions.csv] [--annotate DIR] [--aligned]
    utkface export --model A|B|PATH --format onnx tflite savedmodel [--out DIR] [--force]

`--model A` (or B) is the trained model of a workflow run in this folder: `--results` (default
./results, where the workflow writes) `/models/A/study/seed_N/model.keras` (the main run, not the claims
grid's variants), with `--seed` when several were trained. Everything else takes a path to a `model.keras`.

Every argument is checked before any work starts (no face is looked for, nothing is converted, until
the model, the inputs and every place to write are known to be usable); a bad one ends the command with
one line `ERROR: ...` naming it.

Folders we write as a whole (`export --out`, `predict --annotate`) are never put in place of a folder we
did not write: an existing one must be empty, or an earlier output of the same command (recognised by its
`.utkface-output.json`, which lists what it wrote) holding nothing else, and then only with `--force`.
Files named by the user (`predict --out`, `--gallery`) are replaced, but never an input photo.
"""

from __future__ import annotations

import argparse
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

from .fileio import json_object, one_path, setup_logging
from .provenance import workflow_commit
from .step import run

log = logging.getLogger("utkface.cli")

OUTPUTS = {"age", "gender"}  # the heads every model of this project has (models._heads)
SUBCOMMANDS = {
    "predict": "Age and gender of the faces in photos, one CSV row per face. Folders are walked like the "
    "labels step's (hidden files skipped, symlinked folders followed once); a FIFO, socket, device or "
    "broken link gets a row with its reason and is never opened. --annotate is a folder written as a "
    "whole: new, empty, or with --force an earlier --annotate folder holding only what it wrote.",
    "export": "Inference-only exports of a model, each checked against Keras, and its model card. --out "
    "is written as a whole: a new or empty folder, or with --force an earlier export holding only its "
    "own files (listed in its .utkface-output.json); any other folder is refused, never deleted.",
}


def resolve_model(spec: str, results: str, seed: int | None) -> tuple[Path, str]:
    """(model file, an id for the outputs) from 'A', 'B' or a path."""
    if spec not in ("A", "B"):
        path = Path(spec)
        if not path.is_file():
            raise SystemExit(f"ERROR: --model {spec}: no such model file (or give A or B)")
        info = path.with_name("train_info.json")
        if info.is_file():
            try:
                meta = json.loads(info.read_text())
                return path, f"{meta['model']}_seed_{meta['seed']}"
            except (ValueError, KeyError, TypeError):
                raise SystemExit(f"ERROR: --model {spec}: {info} beside it is not train info") from None
        return path, path.stem
    found = sorted(Path(results).glob(f"models/{spec}/study/seed_*/model.keras"))
    seeds = {int(p.parent.name.removeprefix("seed_")): p for p in found}
    if seed is not None and seed in seeds:
        return seeds[seed], f"{spec}_seed_{seed}"
    if seed is None and len(seeds) == 1:
        ((only, path),) = seeds.items()
        return path, f"{spec}_seed_{only}"
    if not seeds:
        raise SystemExit(
            f"ERROR: --model {spec}: no trained model under {results}/models/{spec}/study/ (run the workflow "
            "here first, e.g. ./run.sh demo, or give --results or a path to a model.keras)"
        )
    raise SystemExit(f"ERROR: --model {spec}: trained for seeds {sorted(seeds)}; choose one with --seed")


def model_input_size(path: Path, spec: str) -> int:
    """The side of the square RGB images the model takes, read from the `.keras` file's config alone (a
    zip: no TensorFlow, so a wrong file is refused at once). SystemExit unless it is a model of this
    project: one input (None, S, S, 3), outputs `age` and `gender`."""
    what = f"ERROR: --model {spec}"
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        reason = f"{type(err).__name__}: {err}"
        raise SystemExit(f"{what}: not a readable Keras model file ({reason})") from None
    try:
        inner = config["config"]
        inputs, outputs = inner["input_layers"], inner["output_layers"]
        if inputs and isinstance(inputs[0], list):  # several inputs, or one given as a list of one
            inputs = inputs[0] if len(inputs) == 1 else None
        name = inputs[0]
        (layer,) = [layer for layer in inner["layers"] if layer["config"].get("name") == name]
        shape = list(layer["config"]["batch_shape"])
    except (KeyError, TypeError, ValueError, IndexError):
        raise SystemExit(f"{what}: not a model of this project (not one image input)") from None
    if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2] or not isinstance(shape[1], int):
        raise SystemExit(f"{what}: takes images of shape {shape[1:]}, not square RGB ones (S, S, 3)")
    if not isinstance(outputs, dict) or set(outputs) != OUTPUTS:
        names = sorted(outputs) if isinstance(outputs, dict) else f"{len(outputs)} unnamed"
        raise SystemExit(f"{what}: outputs {names}, not {sorted(OUTPUTS)}")
    return int(shape[1])


def load_model(path: Path, spec: str, size: int):
    """The Keras model, checked on one blank image: one age and one p(female) per image."""
    import numpy as np

    from .inference import load_keras_model

    try:
        model = load_keras_model(path)
        out = model.predict_on_batch(np.zeros((2, size, size, 3), np.float32))
        sizes = {k: np.asarray(out[k]).size for k in OUTPUTS} if isinstance(out, dict) else {}
    except Exception as err:  # noqa: BLE001 - whatever Keras raises, the file is not a usable model
        raise SystemExit(f"ERROR: --model {spec}: cannot load it ({type(err).__name__}: {err})") from None
    if sizes != dict.fromkeys(OUTPUTS, 2):
        raise SystemExit(f"ERROR: --model {spec}: does not give one age and one p(female) per image")
    return model


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, like every other bad input
        raise SystemExit(f"ERROR: {message} (see {self.prog} --help)")


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not a whole number >= 1")
    return n


def _parser() -> argparse.ArgumentParser:
    from .decode import INTERPOLATION
    from .export import FORMATS
    from .predict import FORMULA_START

    p = _Parser(prog="utkface", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, what in SUBCOMMANDS.items():
        s = sub.add_parser(name, description=what, help=what.split(".")[0])
        s.add_argument("--model", required=True, help="A, B, or a path to a model.keras")
        s.add_argument("--seed", type=int, help="which seed's model, when several were trained")
        s.add_argument("--results", default="results", help="the workflow's results folder (for A and B)")
    pr = sub.choices["predict"]
    pr.add_argument("inputs", nargs="+", help="photos, or folders of photos (walked like the labels step's)")
    starts = " ".join(repr(c) for c in FORMULA_START)
    pr.add_argument(
        "--out",
        default="predictions.csv",
        help=f"the CSV, one row per face or refused file (a text cell starting with {starts} gets a leading "
        "' so that a spreadsheet shows it instead of running it as a formula)",
    )
    pr.add_argument(
        "--annotate",
        help="a folder for the photos with boxes, ages and genders drawn (new or empty; "
        "an earlier --annotate folder only with --force)",
    )
    pr.add_argument("--gallery", help="an HTML page showing the annotated photos (needs --annotate)")
    pr.add_argument("--gallery-template", help="the page's Jinja2 template (default: report/gallery.html.j2)")
    pr.add_argument("--aligned", action="store_true", help="the photos are already aligned face crops")
    pr.add_argument("--batch-size", type=_positive, default=64, help="faces per model batch")
    pr.add_argument(
        "--interpolation",
        default="bilinear",
        choices=sorted(INTERPOLATION),
        help="as the model was trained (preprocess)",
    )
    ex = sub.choices["export"]
    ex.add_argument("--format", nargs="+", default=list(FORMATS), choices=list(FORMATS))
    ex.add_argument(
        "--out",
        help="output folder (default: export_<model id>): new or empty; an earlier export only with --force",
    )
    ex.add_argument("--parity-images", help="a .npy of test images (uint8 N x S x S x 3) to check parity on")
    ex.add_argument("--parity-n", type=_positive, default=64, help="how many of them")
    ex.add_argument(
        "--card",
        help="what MODEL_CARD.md is written from, as JSON (or @FILE holding it): template"
        " (report/model_card.md.j2), metrics (the model's test metrics.json), info (its train_info.json),"
        " splits (train, val, test CSVs), and optionally config (the training config, an object), synthetic"
        " (true/false), commit (default: asked of git). Without it: no card",
    )
    for s in (pr, ex):
        s.add_argument(
            "--force",
            action="store_true",
            help="replace an earlier output folder of this command (never a folder it did not write, "
            "nor one holding files it did not write)",
        )
    return p


def _parity_images(a: argparse.Namespace, size: int):
    import numpy as np

    if not a.parity_images:
        return None
    what = f"ERROR: --parity-images {a.parity_images}"
    try:
        images = np.load(a.parity_images, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise SystemExit(f"{what}: not a readable .npy file ({err})") from None
    if images.dtype != np.uint8 or images.shape[1:] != (size, size, 3) or not len(images):
        raise SystemExit(
            f"{what}: {images.dtype} {images.shape}, not uint8 images N x {size} x {size} x 3 (the model's)"
        )
    return images[: a.parity_n]


CARD_FILES = ("template", "metrics", "info", "splits")
# optional: each fact's JSON type, and what it is when not given (`--card`'s own, not config keys)
CARD_FACTS = {"config": (dict, {}), "synthetic": (bool, False), "commit": (str, None)}


def card_facts(text: str) -> dict[str, Any]:
    """`--card` (JSON, or @FILE), checked: every key known, each file given, each fact of its type; a
    ValueError naming the key otherwise."""
    facts = json_object(text, "--card")
    unknown = sorted(set(facts) - set(CARD_FILES) - set(CARD_FACTS))
    if unknown:
        raise ValueError(
            f"--card: unknown {', '.join(unknown)} (known: {', '.join([*CARD_FILES, *CARD_FACTS])})"
        )
    missing = [k for k in CARD_FILES if k not in facts]
    if missing:
        raise ValueError(f"--card lacks {', '.join(missing)}")
    out = {k: one_path(facts[k], f"--card {k}") for k in ("template", "metrics", "info")}
    splits = facts["splits"]
    if not isinstance(splits, list) or len(splits) != 3 or not all(isinstance(p, str) for p in splits):
        raise ValueError(f"--card splits: three CSVs (train, val, test), not {splits!r}")
    out["splits"] = splits
    for k, (kind, unset) in CARD_FACTS.items():
        if k not in facts:
            out[k] = unset
        elif isinstance(facts[k], kind):
            out[k] = facts[k]
        else:
            raise ValueError(f"--card {k}: a JSON {kind.__name__}, not {facts[k]!r}")
    return out


def _card(a: argparse.Namespace, model_id: str):
    """report -> MODEL_CARD.md text, with every file it needs read now (None without --card)."""
    if not a.card:
        return None
    import jinja2

    from . import __version__
    from .export import model_card
    from .figure_names import MODEL_NAMES
    from .labeltable import read_labels

    try:
        facts = card_facts(a.card)
    except ValueError as err:
        raise SystemExit(f"ERROR: {err}") from None
    texts = {}
    for key in ("template", "metrics", "info"):
        try:
            texts[key] = Path(facts[key]).read_text()
            if key == "template":
                jinja2.Environment().parse(texts[key])
            else:
                texts[key] = json.loads(texts[key])
        except (OSError, ValueError, jinja2.TemplateSyntaxError) as err:
            raise SystemExit(f"ERROR: --card {key} {facts[key]}: {err}") from None
    counts = {}
    for name, path in zip(("train", "val", "test"), facts["splits"], strict=True):
        try:
            counts[name] = len(read_labels(path))
        except (OSError, ValueError, KeyError) as err:
            raise SystemExit(f"ERROR: --card splits {path}: not a split CSV ({err})") from None
    test, info, template = texts["metrics"], texts["info"], facts["template"]
    if not isinstance(info, dict) or "model" not in info:
        raise SystemExit(f"ERROR: --card info {facts['info']}: not a train_info.json")
    extra = {
        "name": MODEL_NAMES.get(info["model"], info["model"]),
        "model_id": model_id,
        "version": __version__,
        "commit": facts["commit"] or workflow_commit(),
        "synthetic": facts["synthetic"],
        "formats": a.format,
    }

    def card(report: dict) -> str:
        try:
            return model_card(template, test, info, counts, facts["config"], report, extra)
        except (KeyError, TypeError, jinja2.TemplateError) as err:
            raise ValueError(f"--card template {template}: {type(err).__name__}: {err}") from None

    return card


def _export(a: argparse.Namespace, path: Path, model_id: str, size: int) -> None:
    from .export import check_out, export

    a.format = list(dict.fromkeys(a.format))
    out = Path(a.out or f"export_{model_id}")
    try:
        check_out(out, a.force)
    except ValueError as err:
        raise SystemExit(f"ERROR: {err}") from None
    images = _parity_images(a, size)
    card = _card(a, model_id)
    model = load_model(path, a.model, size)
    try:
        report = export(model, out, a.format, images, card, a.force)
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
    log.info("exported %s to %s", model_id, out)


def _predict(a: argparse.Namespace, path: Path, model_id: str, size: int) -> int:
    from .predict import check_outputs, find_photos, run_cli

    if a.gallery and not a.annotate:
        raise SystemExit("ERROR: --gallery shows the annotated photos: give --annotate DIR too")
    photos = find_photos(a.inputs)
    if not photos:
        raise SystemExit(f"ERROR: no photo found in {', '.join(map(str, a.inputs))}")
    try:
        check_outputs(a, photos)
    except ValueError as err:
        raise SystemExit(f"ERROR: {err}") from None
    model = load_model(path, a.model, size)
    return run_cli(a, photos, model, model_id)


def main(argv: list[str] | None = None) -> None:
    a = _parser().parse_args(argv)
    setup_logging()
    path, model_id = resolve_model(a.model, a.results, a.seed)
    size = model_input_size(path, a.model)
    if a.cmd == "predict":
        raise SystemExit(_predict(a, path, model_id, size))
    _export(a, path, model_id, size)


def entry() -> None:
    """The installed `utkface` command."""
    run(main)


if __name__ == "__main__":
    run(main)
