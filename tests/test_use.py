"""Using a trained model: faces found and aligned like UTKFace's on real photos, predictions on scenes and
on bad files, exports that agree with Keras, the model card."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage
from PIL import Image

from workflow_scripts.faces import CROP, TEMPLATE, Detector, align, similarity

PHOTOS = Path(skimage.__file__).parent / "data"
pytestmark = pytest.mark.slow


def test_similarity_recovers_a_known_rotation_scale_and_shift():
    angle, scale, shift = np.deg2rad(12), 1.7, np.array([30.0, -12.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.random.default_rng(0).uniform(0, 200, (5, 2))
    m = similarity(src, src @ rot.T + shift)
    np.testing.assert_allclose(m, np.hstack([rot, shift[:, None]]), atol=1e-9)


@pytest.fixture(scope="module")
def detector():
    return Detector()


@pytest.mark.parametrize("photo", ["astronaut.png", "camera.png"])
def test_a_real_face_is_found_and_aligned_onto_the_template(detector, photo):
    image = Image.open(PHOTOS / photo).convert("RGB")
    faces = detector.detect(np.asarray(image))
    assert len(faces) == 1 and faces[0]["confidence"] > 0.95
    crop = align(image, faces[0]["keypoints"])
    assert crop.size == (CROP, CROP)
    again = detector.detect(np.asarray(crop))
    assert len(again) == 1
    keys = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
    got = np.array([again[0]["keypoints"][k] for k in keys])
    # the warp puts each keypoint where the transform says (up to the detector's own jitter) ...
    src = np.array([faces[0]["keypoints"][k] for k in keys])
    m = similarity(src, TEMPLATE)
    scale = np.hypot(*m[:, 0])  # crop pixels per photo pixel: the detector's jitter grows with it
    # (MTCNN gives whole pixels of the photo: up to 4 of them, scaled into the crop)
    assert np.abs(got - (src @ m[:, :2].T + m[:, 2])).max() < 4 * max(scale, 1.0), (got, scale)
    if photo == "astronaut.png":  # a large frontal face: on the UTKFace template within a few pixels
        assert np.abs(got[:2] - TEMPLATE[:2]).max() < 8 and np.abs(got - TEMPLATE).max() < 10, got


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data):
    """Model A trained for 2 epochs on the tiny synthetic set, as the train rule leaves it."""
    from helpers import full_config, train_tiny

    cfg = full_config(image_size=32, train={"epochs": 2}, model_a={"batch_size": 16})
    out, _ = train_tiny(tmp_path_factory.mktemp("model"), tiny_data, "A", cfg)
    return out / "model.keras"


def _predict(tmp_path, *inputs, model, extra=()):
    from workflow_scripts.cli import main

    out = tmp_path / "p.csv"
    with pytest.raises(SystemExit) as ended:
        main(["predict", *map(str, inputs), "--model", str(model), "--out", str(out), *extra])
    return ended.value.code, pd.read_csv(out) if out.exists() else None


def test_every_face_of_the_scenes_is_found_and_predicted_like_its_original_crop(tmp_path, trained, detector):
    from workflow_scripts.scenes import make_scenes, source_face

    truth = make_scenes(tmp_path / "scenes", 5, seed=11)
    pages = ["--annotate", str(tmp_path / "ann"), "--gallery", str(tmp_path / "g.html")]
    code, table = _predict(tmp_path, tmp_path / "scenes", model=trained, extra=pages)
    assert code == 0
    for scene in truth:
        rows = table[table["file"].str.endswith(scene["file"])]
        assert len(rows) == len(scene["boxes"]) and (rows["status"] == "ok").all()
    # the same face, pasted at another scale, place and angle, gets nearly the same prediction
    face = source_face()
    face.save(tmp_path / "original.png")
    _, alone = _predict(tmp_path, tmp_path / "original.png", model=trained)
    assert (table["predicted_age"] - alone["predicted_age"][0]).abs().max() < 3.0
    assert (table["p_female"] - alone["p_female"][0]).abs().max() < 0.15
    assert len(list((tmp_path / "ann").glob("*.jpg"))) == 5
    page = (tmp_path / "g.html").read_text()
    assert page.count("<img") == 5 and "ann/" in page


def _bad_files(folder: Path) -> dict[str, str]:
    folder.mkdir()
    astro = Image.open(PHOTOS / "astronaut.png").convert("RGB")
    (folder / "notes.jpg").write_text("not an image")
    astro.save(folder / "cut.jpg")
    data = (folder / "cut.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 3])
    astro.convert("CMYK").save(folder / "cmyk.jpg")
    astro.convert("L").save(folder / "grey.png")
    rgba = astro.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(folder / "alpha.png")
    Image.fromarray(np.asarray(astro.convert("L"), np.uint16) * 257).save(folder / "deep16.png")
    Image.new("RGB", (300, 200), (90, 140, 200)).save(folder / "sky.jpg")
    return {"notes.jpg": "unreadable", "cut.jpg": "unreadable", "sky.jpg": "no face",
            "cmyk.jpg": "ok", "grey.png": "ok", "alpha.png": "ok", "deep16.png": "ok"}  # fmt: skip


def test_each_bad_file_gets_its_row_and_reason_and_the_run_goes_on(tmp_path, trained, monkeypatch):
    expected = _bad_files(tmp_path / "in")
    code, table = _predict(tmp_path, tmp_path / "in", model=trained)
    assert code == 0
    status = {Path(f).name: s for f, s in zip(table["file"], table["status"], strict=True)}
    assert status == expected
    assert table.loc[table["status"] != "ok", "reason"].str.len().gt(5).all()
    # a pixel limit below the astronaut's 512 x 512
    monkeypatch.setattr("workflow_scripts.predict.MAX_PIXELS", 100_000)
    from workflow_scripts.predict import open_photo

    big = open_photo(PHOTOS / "astronaut.png", max_pixels=100_000)
    assert big.status == "unusable" and "over the limit" in big.reason
    # nothing readable at all: exit status 1
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_text("x")
    code, table = _predict(tmp_path, tmp_path / "junk", model=trained)
    assert code == 1 and table["status"].tolist() == ["unreadable"]


def test_exports_agree_with_keras_and_the_card_tells_the_run(tmp_path, trained, tiny_data):
    from workflow_scripts.cli import main

    images = np.load(tiny_data["arrays"]["test"])[:64]
    np.save(tmp_path / "test.npy", images)
    main(["export", "--model", str(trained), "--out", str(tmp_path / "exp"),
          "--parity-images", str(tmp_path / "test.npy")])  # fmt: skip
    report = json.loads((tmp_path / "exp" / "parity.json").read_text())
    assert set(report) == {"keras", "savedmodel", "onnx", "tflite"}
    for fmt, r in report.items():
        assert r["ok"] and r["n"] == len(images), fmt
        assert r["max_abs_age"] < 0.01 and r["max_abs_p_female"] < 1e-4
    from workflow_scripts.export import runner

    x = images[:4].astype(np.float32)
    onnx = runner("onnx", tmp_path / "exp" / "model.onnx")(x)
    assert set(onnx) == {"age", "gender"} and onnx["age"].shape == (4,)
    # the inference model has no augmentation left
    import keras

    inf = keras.models.load_model(tmp_path / "exp" / "model.keras")
    assert "augmentation" not in [layer.name for layer in inf.layers]


def test_a_face_in_a_large_photo_is_found_on_the_bounded_copy_and_boxed_in_the_photo_s_pixels(
    tmp_path, detector
):
    import keras
    from helpers import tiny_keras_model

    from workflow_scripts.predict import DETECT_PIXELS, find_photos, predict_photos
    from workflow_scripts.scenes import source_face

    face = source_face()
    face = face.resize((face.width * 3, face.height * 3), Image.Resampling.BICUBIC)
    (ref,) = detector.detect(np.asarray(face))  # the face alone, at full size
    photo = Image.new("RGB", (4000, 3000), (120, 130, 140))  # 12 MP: six times what the detector sees
    photo.paste(face, (2600, 1700))
    photo.save(tmp_path / "big.jpg", quality=92)
    seen = []
    detect = detector.detect
    detector.detect = lambda rgb: seen.append(rgb.shape[0] * rgb.shape[1]) or detect(rgb)
    try:
        model = keras.models.load_model(tiny_keras_model(tmp_path / "m.keras"))
        table, _ = predict_photos(find_photos([tmp_path / "big.jpg"]), model, "m", detector, progress=False)
    finally:
        detector.detect = detect
    assert seen and max(seen) <= DETECT_PIXELS
    (row,) = table.to_dict("records")
    assert row["status"] == "ok"
    expected = np.array(ref["box"]) + [2600, 1700, 0, 0]
    got = np.array([row[k] for k in ("box_x", "box_y", "box_w", "box_h")])
    assert np.abs(got - expected).max() < 0.1 * ref["box"][2], (got, expected)
