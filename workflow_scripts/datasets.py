"""tf.data input pipelines over the preprocessed uint8 arrays.

The training batches of epoch e are a permutation drawn from (seed, e) alone, read from a variable that
`callbacks.EpochRandomness` sets when an epoch begins: a run resumed at epoch e after a kill sees exactly
the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .labels import read_labels


@dataclass
class Inputs:
    train: Any  # tf.data.Dataset: one epoch of shuffled training batches
    val: Any  # tf.data.Dataset: the validation batches, in order
    epoch: Any  # tf.Variable: the epoch whose permutation the next pass over `train` draws


def make_datasets(arrays: dict[str, str], splits: dict[str, str], batch_size: int, seed: int) -> Inputs:
    """tf.data pipelines over the uint8 arrays: per-epoch seeded order, batches, float cast, prefetch."""
    import numpy as np
    import tensorflow as tf

    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    out = {}
    for split in ("train", "val"):
        images = np.load(arrays[split], mmap_mode="r")
        labels = read_labels(splits[split])
        n = len(images)
        if len(labels) != n:
            raise ValueError(f"{arrays[split]} has {n} rows but {splits[split]} has {len(labels)}")
        if split == "train" and n < batch_size:
            raise ValueError(f"train split has {n} images, fewer than one batch of {batch_size}")
        x = tf.constant(np.asarray(images))
        y = {
            "age": tf.constant(labels["age"].to_numpy("float32")[:, None]),
            "gender": tf.constant(labels["gender"].to_numpy("float32")[:, None]),
        }
        # Shuffle and batch indices, then gather each batch at once: shuffling whole images one by one
        # made the pipeline slower than a plain fit on NumPy arrays.
        if split == "train":
            key = tf.constant(seed, tf.int64)

            def permutation(_, n=n, key=key):
                return tf.random.experimental.stateless_shuffle(
                    tf.range(n, dtype=tf.int64), seed=tf.stack([key, epoch.read_value()])
                )

            ds = tf.data.Dataset.from_tensors(tf.constant(0)).map(permutation).unbatch()
        else:
            ds = tf.data.Dataset.range(n)
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
    return Inputs(out["train"], out["val"], epoch)
