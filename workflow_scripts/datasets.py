"""tf.data input pipelines over the preprocessed uint8 arrays."""

from __future__ import annotations

from .labels import read_labels


def make_datasets(
    arrays: dict[str, str],
    splits: dict[str, str],
    batch_size: int,
    seed: int,
    shuffle_buffer: int | None = None,
):
    """tf.data pipelines over the uint8 arrays: seeded shuffle, batches, float cast, prefetch."""
    import numpy as np
    import tensorflow as tf

    out = {}
    for split in ("train", "val"):
        images = np.load(arrays[split], mmap_mode="r")
        labels = read_labels(splits[split])
        if len(labels) != len(images):
            raise ValueError(f"{arrays[split]} has {len(images)} rows but {splits[split]} has {len(labels)}")
        if split == "train" and len(images) < batch_size:
            raise ValueError(f"train split has {len(images)} images, fewer than one batch of {batch_size}")
        x = tf.constant(np.asarray(images))
        y = {
            "age": tf.constant(labels["age"].to_numpy("float32")[:, None]),
            "gender": tf.constant(labels["gender"].to_numpy("float32")[:, None]),
        }
        # Shuffle and batch indices, then gather each batch at once: shuffling whole images one by one
        # made the pipeline slower than a plain fit on NumPy arrays.
        ds = tf.data.Dataset.range(len(images))
        if split == "train":
            ds = ds.shuffle(shuffle_buffer or len(images), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=(split == "train"))
        ds = ds.map(
            lambda idx, x=x, y=y: (
                tf.cast(tf.gather(x, idx), tf.float32),
                {k: tf.gather(v, idx) for k, v in y.items()},
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        out[split] = ds.prefetch(tf.data.AUTOTUNE)
    return out["train"], out["val"]
