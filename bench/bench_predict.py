"""Prediction speed on this CPU, side by side in one run: per-face latency (batch 1) and throughput
(batch 64) of the Keras model and of its ONNX Runtime and LiteRT exports, and detection + alignment
images/s on a folder of scenes (real faces, 1-3 each).

    python bench/bench_predict.py --model results/models/A/study/seed_7/model.keras [--scenes 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from workflow_scripts.tfsetup import configure_tensorflow  # noqa: E402

configure_tensorflow()


def _time(fn, x, repeat):
    fn(x)  # warm-up (graph building, allocation)
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn(x)
    return (time.perf_counter() - t0) / repeat


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--scenes", type=int, default=500)
    a = p.parse_args()
    import keras
    from PIL import Image

    from workflow_scripts import models
    from workflow_scripts.export import runner, write_formats
    from workflow_scripts.faces import Detector, align
    from workflow_scripts.scenes import make_scenes

    inf = models.inference_model(keras.models.load_model(a.model))
    size = int(inf.input_shape[1])
    rng = np.random.default_rng(0)
    x64 = rng.uniform(0, 255, (64, size, size, 3)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_formats(inf, Path(tmp), ["keras", "onnx", "tflite"])
        print(f"{'runtime':<12}{'batch 1 (ms/face)':>20}{'batch 64 (faces/s)':>20}")
        for fmt, path in paths.items():
            run = runner(fmt, path)
            one = _time(run, x64[:1], 50)
            many = _time(run, x64, 10)
            print(f"{fmt:<12}{1000 * one:>20.2f}{64 / many:>20.0f}")
        make_scenes(Path(tmp) / "scenes", a.scenes, seed=1)
        files = sorted((Path(tmp) / "scenes").glob("*.jpg"))
        det = Detector()
        t0 = time.perf_counter()
        faces = 0
        for f in files:
            im = Image.open(f).convert("RGB")
            found = det.detect(np.asarray(im))
            faces += len(found)
            for face in found:
                align(im, face["keypoints"])
        dt = time.perf_counter() - t0
    print(f"detection + alignment: {len(files) / dt:.1f} scenes/s, {faces / dt:.1f} faces/s "
          f"({len(files)} scenes of 960x640, {faces} faces)")  # fmt: skip


if __name__ == "__main__":
    main()
