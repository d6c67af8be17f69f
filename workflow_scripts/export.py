"""Export a trained model for inference (augmentation removed) as Keras, SavedModel, ONNX and LiteRT
(`.tflite`) files, each checked against Keras on test images, with a MODEL_CARD.md from the run's numbers.

The export is written into a new folder that takes the place of `--out` only once everything in it is
written and checked. An existing `--out` is replaced only with `--force`, and only when it is an earlier
export (its `.utkface-output.json` lists what that export wrote) holding nothing else: a user's folder, or
a file someone added to an export, is never deleted.

All three exports go through Keras' own `model.export` (ONNX by way of tf2onnx, LiteRT by TensorFlow's
converter); ONNX is read back with ONNX Runtime and `.tflite` with the LiteRT interpreter.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .formats import percent

log = logging.getLogger("utkface.export")

FORMATS = {
    "keras": ("model.keras", "Keras 3 model, inference only"),
    "savedmodel": ("saved_model", "TensorFlow SavedModel (serving signature `serve`)"),
    "onnx": ("model.onnx", "ONNX (input `image`, outputs `age`, `gender`)"),
    "tflite": ("model.tflite", "LiteRT / TensorFlow Lite flat buffer"),
}
# how far an export may drift from Keras on the same images and still pass
TOLERANCE = {"age": 0.01, "gender": 1e-4}


def write_formats(inf, out: Path, formats: list[str]) -> dict[str, Path]:
    paths = {}
    for fmt in formats:
        path = out / FORMATS[fmt][0]
        if fmt == "keras":
            inf.save(path)
        else:
            kind = {"savedmodel": "tf_saved_model", "onnx": "onnx", "tflite": "litert"}[fmt]
            inf.export(str(path), format=kind, verbose=False)
        paths[fmt] = path
    return paths


def runner(fmt: str, path: Path):
    """A function images -> {"age": (n,), "gender": (n,)} running the exported file itself."""
    if fmt == "keras":
        import keras

        model = keras.models.load_model(path)
        return lambda x: {k: np.asarray(v).reshape(-1) for k, v in model.predict_on_batch(x).items()}
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # kept alive: `serve` alone would lose its variables
        return lambda x: {k: np.asarray(v).reshape(-1) for k, v in loaded.serve(tf.constant(x)).items()}
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        return lambda x: {n: v.reshape(-1) for n, v in zip(names, sess.run(None, {"image": x}), strict=True)}
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(str(path))
    signature = interp.get_signature_runner()

    def run(x):
        outs = signature(**{next(iter(signature.get_input_details())): x})
        return {k: np.asarray(v).reshape(-1) for k, v in outs.items()}

    return run


def parity(inf, paths: dict[str, Path], images: np.ndarray) -> dict[str, dict[str, Any]]:
    """Largest differences of each export from the in-memory Keras model on the same images."""
    x = np.asarray(images, dtype=np.float32)
    ref = {k: np.asarray(v).reshape(-1) for k, v in inf.predict_on_batch(x).items()}
    report = {}
    for fmt, path in paths.items():
        got = runner(fmt, path)(x)
        age = float(np.abs(got["age"] - ref["age"]).max())
        p = float(np.abs(got["gender"] - ref["gender"]).max())
        report[fmt] = {
            "n": len(x),
            "max_abs_age": age,
            "max_abs_p_female": p,
            "ok": age < TOLERANCE["age"] and p < TOLERANCE["gender"],
        }
    return report


WRITER = "utkface export"


def check_out(out: str | os.PathLike, force: bool) -> None:
    """Raise ValueError unless the export may be written to `out` (see `fileio.check_replaceable`)."""
    from .fileio import check_replaceable

    check_replaceable(out, f"--out {out}", WRITER, force)


def export(
    model,
    out_dir: str | os.PathLike,
    formats: list[str],
    images: np.ndarray | None,
    card: Callable[[dict[str, Any]], str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write the inference model of `model` (a loaded Keras model) in each format, its parity report and,
    given `card` (report -> Markdown), MODEL_CARD.md into a new folder that takes the place of `out_dir`
    only when all of that succeeded: a folder that is not an earlier export holding only its own files is
    never replaced, nor one at all without `force` (`fileio.owned_dir`). Returns the parity report (empty
    without images). Raises ValueError when an export drifts beyond TOLERANCE or `out_dir` is refused."""
    from . import models
    from .fileio import owned_dir

    inf = models.inference_model(model)
    with owned_dir(out_dir, f"--out {out_dir}", WRITER, force) as tmp:
        paths = write_formats(inf, tmp, formats)
        report = parity(inf, paths, images) if images is not None and len(images) else {}
        bad = {f: r for f, r in report.items() if not r["ok"]}
        if bad:
            raise ValueError(f"exports drift from Keras beyond {TOLERANCE}: {bad}")
        (tmp / "parity.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        if card is not None:
            (tmp / "MODEL_CARD.md").write_text(card(report))
    return report


def model_card(
    template: str | os.PathLike,
    test: dict[str, Any],
    info: dict[str, Any],
    counts: dict[str, int],
    config: dict[str, Any],
    report: dict[str, Any],
    extra: dict[str, Any],
) -> str:
    """MODEL_CARD.md from the run's own numbers (test metrics with intervals, groups, gaps, config)."""
    import jinja2
    import yaml

    from . import verdicts

    groups = [
        {
            "name": f"{kind} {g}",
            "n": v["n"],
            "mae": f"{v['age_mae']:.2f}",
            "acc": percent(v["gender_accuracy"]),
        }
        for kind, key in (("age", "by_age_bin"), ("race", "by_race"))
        for g, v in test[key].items()
    ]
    ci = test.get("ci", {})
    context = {
        **extra,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "ci_text": f"{percent(ci['confidence'], 0)} bootstrap intervals" if ci else "no intervals computed",
        "test": {
            "gender_accuracy_text": verdicts.with_ci(test, "gender_accuracy"),
            "age_mae_text": verdicts.with_ci(test, "age_mae"),
            "age_rmse_text": verdicts.with_ci(test, "age_rmse"),
            "ece_text": f"{test['calibration']['ece']:.3f}" if "calibration" in test else "not computed",
            "baseline_mae": f"{test['baselines']['age_mae']:.2f}",
            "baseline_acc": percent(test["baselines"]["gender_accuracy"]),
        },
        "groups": groups,
        "gaps": verdicts.gaps({info["model"]: test}),
        "counts": counts,
        "model": info["model"],
        "seed": info["seed"],
        "epochs": info["epochs_run"],
        "best_epoch": info["best_epoch"],
        "params": f"{info['trainable_params']:,}",
        "image_size": info["image_size"],
        "config": yaml.safe_dump(config, sort_keys=True, default_flow_style=None).strip(),
        "files": [
            {"name": FORMATS[f][0], "what": FORMATS[f][1], "parity": report.get(f)} for f in extra["formats"]
        ],
    }
    # Markdown, not HTML: no autoescaping
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(Path(template).read_text()).render(**context)
