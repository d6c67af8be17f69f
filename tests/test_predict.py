"""`utkface predict` on what users really give it: bad arguments refused before any work, folders walked
like the labels step's, odd files and odd names, spreadsheet-safe cells, memory bounded by the batch and
not by the number of photos. A tiny Keras model (helpers.tiny_keras_model) keeps these fast; the real
detector's tests are in test_use.py."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from workflow_scripts.faces import CROP, TEMPLATE


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    from helpers import tiny_keras_model

    d = tmp_path_factory.mktemp("models")
    (d / "corrupt.keras").write_bytes(b"PK\x03\x04 this is not really a zip")
    return {
        "ok": tiny_keras_model(d / "ok.keras"),
        "grey64": tiny_keras_model(d / "grey64.keras", size=64, channels=1),
        "single": tiny_keras_model(d / "single.keras", heads="single"),
        "wide": tiny_keras_model(d / "wide.keras", heads="wide"),
        "corrupt": d / "corrupt.keras",
    }


def _photo(path: Path, size=(60, 40), seed=0) -> Path:
    rgb = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def _run(*argv: str) -> tuple[int | str | None, str]:
    from workflow_scripts.cli import main

    with pytest.raises(SystemExit) as ended:
        main(list(map(str, argv)))
    return ended.value.code, ""


@pytest.fixture()
def no_work(monkeypatch):
    """Make every expensive step raise: a bad argument must be refused before any of them runs."""

    def expensive(*args, **kwargs):
        raise AssertionError("expensive work started before the arguments were checked")

    monkeypatch.setattr("workflow_scripts.faces.Detector.__init__", expensive)
    monkeypatch.setattr("workflow_scripts.faces.Detector.detect", expensive)
    monkeypatch.setattr("workflow_scripts.predict.open_photo", expensive)


BAD = {
    "batch size 0": (["--batch-size", "0"], "--batch-size"),
    "batch size -1": (["--batch-size", "-1"], "--batch-size"),
    "batch size not a number": (["--batch-size", "many"], "--batch-size"),
    "unknown interpolation": (["--interpolation", "foo"], "--interpolation"),
    "out is a folder": (["--out", "{tmp}/folder"], "--out"),
    "out in a read-only place": (["--out", "/proc/predictions.csv"], "--out"),
    "out under a file": (["--out", "{tmp}/in/a.png/p.csv"], "--out"),
    "out is an input photo": (["--out", "{tmp}/in/a.png"], "--out"),
    "gallery is a folder": (["--annotate", "{tmp}/ann", "--gallery", "{tmp}/folder"], "--gallery"),
    "annotate is a file": (["--annotate", "{tmp}/in/a.png"], "--annotate"),
    "annotate is someone's folder": (["--annotate", "{tmp}/folder"], "--annotate"),
    "corrupt model": (["--model", "corrupt"], "--model"),
    "model of another input size": (["--model", "grey64"], "--model"),
    "model with one unnamed output": (["--model", "single"], "--model"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_argument_is_one_error_line_naming_it_before_any_work(case, tmp_path, models, no_work):
    extra, flag = BAD[case]
    _photo((tmp_path / "in").mkdir() or tmp_path / "in" / "a.png")
    before = (tmp_path / "in" / "a.png").read_bytes()
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "thesis.txt").write_text("mine")
    extra = [models.get(x, x) if i and extra[i - 1] == "--model" else x for i, x in enumerate(extra)]
    extra = [str(x).format(tmp=tmp_path) for x in extra]
    argv = ["predict", tmp_path / "in", "--model", models["ok"], "--out", tmp_path / "p.csv", *extra]
    code, _ = _run(*argv)
    assert isinstance(code, str) and code.startswith("ERROR: ") and "\n" not in code, code
    assert flag in code, code
    assert not (tmp_path / "p.csv").exists()
    assert (tmp_path / "in" / "a.png").read_bytes() == before
    assert (tmp_path / "folder" / "thesis.txt").read_text() == "mine"


def test_a_model_whose_heads_give_other_shapes_is_refused_before_any_detection(tmp_path, models, no_work):
    _photo(tmp_path / "a.png")
    code, _ = _run("predict", tmp_path / "a.png", "--model", models["wide"], "--out", tmp_path / "p.csv")
    assert isinstance(code, str) and code.startswith("ERROR: --model") and "\n" not in code, code


def _predict(tmp_path: Path, *inputs, model: Path, extra=()) -> tuple[int, list[dict[str, str]]]:
    out = tmp_path / "p.csv"
    code, _ = _run("predict", "--model", model, "--out", out, "--aligned", *extra, "--", *inputs)
    with open(out, newline="") as f:
        return code, list(csv.DictReader(f))


def test_a_folder_is_walked_as_the_labels_step_walks_it_and_odd_entries_get_their_reason(tmp_path, models):
    from workflow_scripts.folders import scan

    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    other = tmp_path / "elsewhere"
    other.mkdir()
    _photo(root / "a.png")
    _photo(root / "sub" / "b.jpg")
    _photo(other / "c.png")
    _photo(root / ".hidden.png")  # macOS debris and the like: skipped, as the labels step skips them
    (root / "notes.txt").write_text("not a photo")
    os.mkfifo(root / "pipe.jpg")
    os.symlink(tmp_path / "nowhere.jpg", root / "gone.jpg")
    os.symlink(other, root / "linked")  # a symlinked folder: followed
    os.symlink(root, root / "sub" / "loop")  # a loop: cut
    code, rows = _predict(tmp_path, root, model=models["ok"])
    assert code == 0
    got = {os.path.relpath(r["file"], root): (r["status"], r["reason"]) for r in rows}
    files, rejected = scan(root)
    assert set(got) == set(files) | {r["path"] for r in rejected}
    assert {k for k, (s, _) in got.items() if s == "ok"} == {"a.png", "sub/b.jpg", "linked/c.png"}
    assert got["pipe.jpg"] == ("unreadable", "not a regular file: FIFO")
    assert got["gone.jpg"] == ("unreadable", "not a regular file: broken symbolic link")
    assert got["notes.txt"][0] == "skipped" and "not a photo" in got["notes.txt"][1]
    assert ".hidden.png" not in got


def test_a_named_fifo_gets_its_reason_and_is_never_opened(tmp_path, models):
    os.mkfifo(tmp_path / "pipe.jpg")  # opening it would wait forever for a writer
    _photo(tmp_path / "a.png")
    code, rows = _predict(tmp_path, tmp_path / "pipe.jpg", tmp_path / "a.png", tmp_path / "none.jpg",
                          model=models["ok"])  # fmt: skip
    assert code == 0
    assert [(r["status"], r["reason"]) for r in rows] == [
        ("unreadable", "not a regular file: FIFO"),
        ("ok", ""),
        ("unreadable", "no such file"),
    ]


def test_annotated_copies_have_short_safe_unique_names(tmp_path, models):
    root = tmp_path / "in"
    root.mkdir()
    names = ["x" * 250 + ".png", "x" * 249 + "y.png", "a b?*.png", "a_b__.png", "éè.png", "-.png"]
    for i, name in enumerate(names):
        _photo(root / name, seed=i)
    extra = ["--annotate", tmp_path / "ann", "--gallery", tmp_path / "g.html"]
    code, rows = _predict(tmp_path, root, model=models["ok"], extra=extra)
    assert code == 0 and [r["status"] for r in rows] == ["ok"] * len(names)
    made = sorted(p.name for p in (tmp_path / "ann").glob("*.jpg"))
    assert len(made) == len(names)
    for name in made:
        assert len(name) <= 100 and all(c.isascii() and (c.isalnum() or c in "._-") for c in name), name
    page = (tmp_path / "g.html").read_text()
    assert all(f"ann/{name}" in page for name in made)


def test_no_csv_cell_can_start_a_spreadsheet_formula(tmp_path, models, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = ["=HYPERLINK(1).png", "+1.png", "-2.png", "@SUM.png", "\tt.png", "\rr.png", "plain.png"]
    for name in names:
        _photo(tmp_path / name)
    model = tmp_path / "=model.keras"  # the model id is the file's stem: a user's string too
    model.write_bytes(models["ok"].read_bytes())
    code, rows = _predict(tmp_path, *names, model=model)
    assert code == 0
    assert [r["file"] for r in rows] == [f"'{n}" for n in names[:-1]] + ["plain.png"]
    assert {r["model"] for r in rows} == {"'=model"}
    for row in rows:  # the text cells (a number such as a negative age stays a number)
        text = [row[k] for k in ("file", "status", "reason", "gender", "model")]
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in text), row


class SquareDetector:
    """A real, cheap detector for synthetic photos: the face is the white square drawn in them. It
    records the size of every image it is given."""

    def __init__(self):
        self.seen: list[int] = []

    def detect(self, rgb: np.ndarray) -> list[dict]:
        self.seen.append(rgb.shape[0] * rgb.shape[1])
        ys, xs = np.nonzero(rgb.min(axis=2) == 255)
        if not len(xs):
            return []
        x0, y0, side = xs.min(), ys.min(), xs.max() - xs.min() + 1
        points = TEMPLATE / CROP * side + [x0, y0]
        keys = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
        marks = {k: [float(c) for c in p] for k, p in zip(keys, points, strict=True)}
        return [{"box": [int(x0), int(y0), int(side), int(side)], "confidence": 1.0, "keypoints": marks}]


def _square_photo(path: Path, size=(3000, 2000), square=(2000, 1000, 300)) -> Path:
    w, h = size
    ramp = np.linspace(40, 200, w, dtype=np.float32)[None, :, None]
    rgb = np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8).copy()
    x, y, side = square
    rgb[y : y + side, x : x + side] = 255
    Image.fromarray(rgb).save(path, quality=90)
    return path


def test_the_detector_sees_a_bounded_copy_and_the_boxes_are_in_the_photo_s_pixels(tmp_path, models):
    import keras

    from workflow_scripts.predict import DETECT_PIXELS, find_photos, predict_photos

    _square_photo(tmp_path / "big.jpg")
    detector = SquareDetector()
    photos = find_photos([tmp_path / "big.jpg"])
    table, _ = predict_photos(photos, keras.models.load_model(models["ok"]), "m", detector, progress=False)
    assert detector.seen and max(detector.seen) <= DETECT_PIXELS
    (row,) = table.to_dict("records")
    assert row["status"] == "ok"
    assert abs(row["box_x"] - 2000) <= 3 and abs(row["box_y"] - 1000) <= 3 and abs(row["box_w"] - 300) <= 4


# The real loop (find_photos -> predict_photos, annotated copies written) in a fresh process, on large
# photos: its peak resident memory after a warm-up, after a run on a few photos and after one on many.
MEMORY_SCRIPT = """
import json, os, resource, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from workflow_scripts.tfsetup import configure_tensorflow
configure_tensorflow()
import keras
from test_predict import SquareDetector, _square_photo
from workflow_scripts.predict import find_photos, predict_photos

tmp = Path({tmp!r})
model, detector = keras.models.load_model({model!r}), SquareDetector()
big = _square_photo(tmp / "big.jpg")


def run(n, name, photo=big):
    folder, annotated = tmp / name, tmp / f"{{name}}_annotated"
    folder.mkdir()
    annotated.mkdir()
    for i in range(n):
        os.link(photo, folder / f"{{i:03d}}.jpg")
    table, images = predict_photos(find_photos([folder]), model, "m", detector, batch_size=64,
                                   annotate_dir=annotated, progress=False)
    assert (table["status"] == "ok").sum() == n == len(images), table
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


small = _square_photo(tmp / "small.jpg", size=(300, 200), square=(100, 50, 60))
peaks = {{"base": run(3, "warm", small), "few": run({few}, "few"), "many": run({many}, "many")}}
print(json.dumps(peaks))
"""


@pytest.mark.cli
def test_peak_memory_does_not_grow_with_the_number_of_photos(tmp_path, models):
    from workflow_scripts.predict import PHOTO_BATCH

    few, many = PHOTO_BATCH + 2, 40  # both past the batch of photos whose annotated copies wait
    here = Path(__file__).parent
    script = MEMORY_SCRIPT.format(
        tests=str(here), tmp=str(tmp_path), model=str(models["ok"]), few=few, many=many
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    peaks = json.loads(proc.stdout.strip().splitlines()[-1])  # KiB
    # a 6 MP photo kept until the end would add 18 MB to the peak: 30 more photos, 540 MB more
    grown = (peaks["many"] - peaks["base"]) / max(peaks["few"] - peaks["base"], 1)
    assert grown < 1.25, peaks


def test_the_gallery_page_is_the_template_with_every_name_escaped():
    from html import unescape
    from html.parser import HTMLParser

    from workflow_scripts.predict import gallery_html

    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>.jpg'
    ok = {"file": f"in/{evil}", "face": 1, "status": "ok", "reason": "", "predicted_age": 31.04}
    ok |= {"gender": "male", "p_female": 0.123, "detector_confidence": 0.9871}
    bad = {"file": "in/b.png", "face": 0, "status": "no_face", "reason": "<b>none</b> found"}
    table = pd.DataFrame([ok, bad])
    page = gallery_html(table, {f"in/{evil}": f"ann/{evil}"}, "Model <A>")
    tags = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: tags.append((tag, [k for k, _ in attrs]))
    parser.feed(page)
    assert [t for t in tags if t[0] in ("script", "img")] == [("img", ["src", "alt"])]
    assert [t for t, _ in tags].count("figure") == 2
    assert "<title>Model &lt;A&gt;</title>" in page and "<style>\n/* The one stylesheet" in page
    text = unescape(page)
    assert f'src="ann/{evil}"' in text and "face 1: 31.0 years, male (p(female) 0.12, detector 0.99)" in text
    assert "no_face: <b>none</b> found" in text
