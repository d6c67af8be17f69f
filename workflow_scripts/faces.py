"""Faces found and aligned like UTKFace's "aligned and cropped" images.

Detection: MTCNN (the `mtcnn` wheel ships its weights, 1.9 MB; no download at run time), which gives a box
and five keypoints per face. Alignment: the similarity transform (rotation, uniform scale, shift) that
puts the five keypoints, in the least-squares sense, on where they sit in UTKFace's 200x200 crops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

CROP = 200
KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
# median keypoints (x, y) that MTCNN finds on 300 real UTKFace crops: where an aligned face puts them
TEMPLATE = np.array([[59.5, 58.0], [137.0, 58.0], [97.0, 104.0], [64.0, 137.0], [133.0, 138.0]])


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the similarity transform (no reflection) taking points `src` onto `dst` with the
    least squared error (Umeyama's method)."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.sign(np.linalg.det(u @ vt)) or 1.0
    rot = u @ np.diag([1.0, sign]) @ vt
    scale = (sig * [1.0, sign]).sum() / s.var(0).sum()
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def align(image: Image.Image, keypoints: dict[str, Any] | np.ndarray) -> Image.Image:
    """The CROP x CROP face whose keypoints land on TEMPLATE (bilinear; outside the photo is black)."""
    pts = np.array([keypoints[k] for k in KEYPOINTS], float) if isinstance(keypoints, dict) else keypoints
    m = np.vstack([similarity(pts, TEMPLATE), [0, 0, 1]])
    inv = np.linalg.inv(m)[:2]  # PIL maps each output pixel back into the photo
    return image.transform((CROP, CROP), Image.Transform.AFFINE, inv.ravel(), Image.Resampling.BILINEAR)


class Detector:
    """MTCNN, built once (it loads its three small networks with TensorFlow)."""

    def __init__(self, min_confidence: float = 0.9):
        from mtcnn import MTCNN

        self.mtcnn = MTCNN()
        self.min_confidence = min_confidence

    def detect(self, rgb: np.ndarray) -> list[dict[str, Any]]:
        """Faces in an RGB uint8 array, most confident first: box [x, y, w, h], confidence, keypoints."""
        found = self.mtcnn.detect_faces(rgb)
        faces = [
            {
                "box": [int(v) for v in f["box"]],
                "confidence": float(f["confidence"]),
                "keypoints": {k: [float(c) for c in f["keypoints"][k]] for k in KEYPOINTS},
            }
            for f in found
            if f["confidence"] >= self.min_confidence
        ]
        return sorted(faces, key=lambda f: -f["confidence"])
