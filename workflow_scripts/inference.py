"""Running a trained model: loading it (TensorFlow configured, our layers registered), its predictions in
batches, and the one threshold that turns p(female) into a gender. Evaluation, prediction on photos, the
figures and the `utkface` command all use these."""

from __future__ import annotations

import os

import numpy as np

GENDER_THRESHOLD = 0.5  # p(female) at or above it is "female"


def load_keras_model(path: str | os.PathLike):
    """A Keras model saved by this workflow, loadable once TensorFlow is set up and our layers registered."""
    from .tfsetup import configure_tensorflow

    configure_tensorflow()
    import keras

    from . import models  # noqa: F401 - registers the custom layers for loading

    return keras.models.load_model(path)


def predict_batches(model, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(predicted ages, gender probabilities), in batches straight from a uint8 (memory-mapped) array."""
    ages, probs = [], []
    for start in range(0, len(images), batch_size):
        out = model.predict_on_batch(np.asarray(images[start : start + batch_size], dtype=np.float32))
        ages.append(np.asarray(out["age"]).reshape(-1))
        probs.append(np.asarray(out["gender"]).reshape(-1))
    if not ages:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(ages), np.concatenate(probs)
