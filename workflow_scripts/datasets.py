"""tf.data input pipelines over the preprocessed uint8 arrays.

The training batches of epoch e are a permutation drawn from (seed, e) alone, read from a variable that
`callbacks.EpochRandomness` sets when an epoch begins: a run resumed at epoch e after a kill sees exactly
the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .labeltable import read_labels


@dataclass
class Inputs:
    train: Any  # tf.data.Dataset: one epoch of shuffled training batches
    val: Any  # tf.data.Dataset: the validation batches, in order
    epoch: Any  # tf.Variable: the epoch whose permutation the next pass over `train` draws
    streamed: bool = False  # True: batches read from the memory-mapped files, not held in memory


def memory_bytes() -> int:
    """This machine's physical memory."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gather_sorted(images, idx):
    """Rows `idx` of a memory-mapped array, read in ascending order (one forward pass over the file, not
    random seeks) and returned in the order asked: the same batch as an in-memory gather."""
    import numpy as np

    idx = np.asarray(idx)
    order = np.argsort(idx, kind="stable")
    out = np.empty((len(idx), *images.shape[1:]), dtype=images.dtype)
    out[order] = images[idx[order]]
    return out


def make_datasets(
    arrays: dict[str, str],
    splits: dict[str, str],
    batch_size: int,
    seed: int,
    memory_share: float = 0.5,
) -> Inputs:
    """tf.data pipelines over the uint8 arrays: per-epoch seeded order, batches, float cast, prefetch.

    The arrays are held in memory when together they take at most `memory_share` of the machine's
    memory; larger ones are read batch by batch from their memory maps (`gather_sorted`), with the same
    batches in the same order, so that both ways train the same model."""
    import numpy as np
    import tensorflow as tf

    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    total = sum(os.path.getsize(arrays[s]) for s in ("train", "val"))
    stream = total > memory_share * memory_bytes()
    out = {}
    for split in ("train", "val"):
        images = np.load(arrays[split], mmap_mode="r")
        labels = read_labels(splits[split])
        n = len(images)
        if len(labels) != n:
            raise ValueError(f"{arrays[split]} has {n} rows but {splits[split]} has {len(labels)}")
        if split == "train" and n < batch_size:
            raise ValueError(f"train split has {n} images, fewer than one batch of {batch_size}")
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
        if stream:
            shape = (None, *images.shape[1:])

            def pixels(idx, images=images, shape=shape):
                x = tf.numpy_function(lambda i: gather_sorted(images, i), [idx], tf.uint8, stateful=False)
                return tf.ensure_shape(x, shape)

        else:
            x = tf.constant(np.asarray(images))

            def pixels(idx, x=x):
                return tf.gather(x, idx)

        ds = ds.map(
            lambda idx, y=y, pixels=pixels: (
                tf.cast(pixels(idx), tf.float32),
                {k: tf.gather(v, idx) for k, v in y.items()},
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        out[split] = ds.prefetch(tf.data.AUTOTUNE)
    return Inputs(out["train"], out["val"], epoch, stream)
