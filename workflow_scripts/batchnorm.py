"""BatchNorm trained through TensorFlow's fused kernel, as tf.keras 2 (the study's Keras) ran it.

Keras 3 computes a batch's moments, then normalises, in separate passes over the activations: on a CPU
that was about 40% of a training step of Model A (docs/benchmarks.md). The fused kernel does the work of
a training batch in one pass. Same layer, weights and arithmetic up to float rounding: the moving variance
is updated with the batch's biased variance, as Keras 3 does (the kernel returns it Bessel-corrected).
Inference, a frozen layer, other backends and anything but a plain channels-last layer run Keras' own code.

What is saved is Keras' own BatchNormalization (`models.saveable`), so a saved model loads anywhere.
"""

from __future__ import annotations

from typing import Any

import keras

KERNELS = ("fused", "keras")


@keras.saving.register_keras_serializable(package="utkface")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization whose training step uses TensorFlow's FusedBatchNormV3."""

    def _fusable(self, inputs: Any, training: Any, mask: Any) -> bool:
        plain = not (self.renorm or self.synchronized) and self.center and self.scale
        last = self.axis in (-1, len(inputs.shape) - 1)
        # Keras computes float64 in float64; the kernel takes float32 at most
        single = keras.backend.standardize_dtype(inputs.dtype) in ("float32", "float16", "bfloat16")
        return bool(
            training
            and self.trainable
            and mask is None
            and plain
            and last
            and single
            and len(inputs.shape) in (2, 4)
            and keras.backend.backend() == "tensorflow"
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        # half-precision inputs in float32, as Keras' own layer computes them
        x = tf.cast(inputs, "float32")
        x4 = x if len(x.shape) == 4 else tf.reshape(x, [-1, 1, 1, x.shape[-1]])
        y, mean, corrected = tf.compat.v1.nn.fused_batch_norm(
            x4, tf.cast(self.gamma, "float32"), tf.cast(self.beta, "float32"), epsilon=self.epsilon
        )
        n = tf.cast(tf.size(x4, out_type=tf.int64) // x.shape[-1], "float32")
        # one value a channel: the biased variance is 0, whatever the kernel makes of dividing by n - 1
        variance = tf.where(n > 1.0, corrected * (n - 1.0) / n, tf.zeros_like(corrected))
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        y = y if len(x.shape) == 4 else tf.reshape(y, tf.shape(x))
        return tf.cast(y, self.compute_dtype)


def layer_class(kernel: str) -> type[keras.layers.BatchNormalization]:
    """The BatchNorm class of `kernel` (`model_*.bn_kernel`)."""
    if kernel not in KERNELS:
        raise ValueError(f"bn_kernel must be one of {', '.join(KERNELS)}, not {kernel!r}")
    return FusedBatchNormalization if kernel == "fused" else keras.layers.BatchNormalization


def stock_config(node: dict[str, Any]) -> dict[str, Any]:
    """A serialized layer of ours as Keras' own BatchNormalization (same config keys and weights)."""
    if node.get("class_name") != FusedBatchNormalization.__name__:
        return node
    return {**node, "module": "keras.layers", "class_name": "BatchNormalization", "registered_name": None}
