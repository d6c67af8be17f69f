"""The fused BatchNorm: Keras' own layer's arithmetic up to float rounding in a training step (outputs,
moving statistics with the biased variance, gradients), Keras' own code wherever it is not fused, the
study's parameter counts, bit-for-bit repeatable training, and Keras' own layer in what is saved."""

import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import full_config, train_tiny

from workflow_scripts import batchnorm, models
from workflow_scripts.batchnorm import FusedBatchNormalization
from workflow_scripts.settings import for_training


def _pair(shape, momentum=0.9):
    """A fused layer and Keras' own, built alike, with the same non-trivial gamma and beta."""
    layers = [cls(momentum=momentum) for cls in (FusedBatchNormalization, keras.layers.BatchNormalization)]
    rng = np.random.default_rng(0)
    gamma, beta = rng.uniform(0.5, 2, shape[-1]), rng.normal(0, 1, shape[-1])
    for layer in layers:
        layer.build(shape)
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    x = tf.constant(rng.normal(3, 2, shape).astype("float32"))
    return layers, x


@pytest.mark.parametrize("shape", [(8, 6, 5, 4), (4, 7)], ids=["conv", "dense"])
def test_a_training_step_matches_keras_outputs_statistics_and_gradients(shape):
    (fused, stock), x = _pair(shape)
    results = []
    # random weights: with a constant one, the gradient of gamma is a sum of zero mean, all rounding
    weights = tf.constant(np.random.default_rng(2).normal(0, 1, shape).astype("float32"))
    for layer in (fused, stock):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * weights)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append([y, layer.moving_mean, layer.moving_variance, *grads])
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5)
    # (the dense case has 4 values a channel: the kernel's Bessel-corrected variance is 4/3 of Keras')


def test_one_value_a_channel_gives_keras_zero_variance_not_nan():
    (fused, stock), x = _pair((1, 4))
    for layer in (fused, stock):
        layer(x, training=True)
    assert np.isfinite(np.asarray(fused.moving_variance)).all()
    np.testing.assert_allclose(np.asarray(fused.moving_variance), stock.moving_variance, rtol=1e-6)


def _step_under(policy, dtype):
    """A training step of a fused layer and Keras' own under the global `policy`, on `dtype` inputs."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        (fused, stock), x = _pair((8, 6, 5, 4))
        x = tf.cast(x, dtype)
        return fused, stock, fused(x, training=True), stock(x, training=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_float64_is_keras_own_code_bit_for_bit():
    _, _, y, want = _step_under("float64", "float64")
    assert y.dtype == tf.float64 and np.array_equal(y, want)


def test_where_it_does_not_fuse_it_is_keras_own_code_bit_for_bit(monkeypatch):
    (fused, stock), x = _pair((8, 6, 5, 4))
    for training in (False, None):
        assert np.array_equal(fused(x, training=training), stock(x, training=training))
    fused.trainable = stock.trainable = False  # a frozen layer normalises with its moving statistics
    assert np.array_equal(fused(x, training=True), stock(x, training=True))
    fused.trainable = stock.trainable = True
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert np.array_equal(fused(x, training=True), stock(x, training=True))
    assert np.array_equal(fused.moving_mean, stock.moving_mean)


def test_under_mixed_bfloat16_it_computes_in_float32_and_returns_bfloat16():
    fused, stock, y, want = _step_under("mixed_bfloat16", "bfloat16")
    assert y.dtype == want.dtype == tf.bfloat16
    np.testing.assert_allclose(
        np.asarray(fused.moving_variance), np.asarray(stock.moving_variance), rtol=1e-5
    )


def test_an_unknown_kernel_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="bn_kernel must be one of fused, keras, not 'cudnn'"):
        batchnorm.layer_class("cudnn")


def _fused(model):
    return sum(isinstance(layer, FusedBatchNormalization) for layer in models.walk_layers(model))


def test_the_study_parameter_counts_hold_and_what_is_saved_is_keras_own_layer(tmp_path):
    run_a, run_b = (
        for_training(full_config(**{f"model_{m.lower()}": {"bn_kernel": "fused"}}), m) for m in "AB"
    )
    a = models.build_model_a(128, run_a.model, run_a.augmentation, seed=1)
    b = models.build_model_b(128, run_b.model, run_b.augmentation, seed=1, weights=None)
    assert (models.trainable_params(a), models.trainable_params(b)) == (1_015_906, 1_449_474)
    for m in (a, b):
        norms = [x for x in models.walk_layers(m) if isinstance(x, keras.layers.BatchNormalization)]
        assert norms and _fused(m) == len(norms)
    saved = models.saveable(a)
    assert _fused(saved) == 0
    assert all(np.array_equal(u, v) for u, v in zip(saved.get_weights(), a.get_weights(), strict=True))
    x = np.random.default_rng(1).integers(0, 255, (2, 128, 128, 3)).astype("float32")
    assert np.array_equal(saved.predict_on_batch(x)["age"], a.predict_on_batch(x)["age"])
    saved.save(tmp_path / "a.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "a.keras").read("config.json"))
    assert "FusedBatchNormalization" not in json.dumps(config) and "BatchNormalization" in json.dumps(config)


@pytest.mark.slow
def test_training_with_the_fused_kernel_repeats_bit_for_bit_and_saves_keras_own_layer(tmp_path, tiny_data):
    cfg = full_config(image_size=32, train={"epochs": 2}, model_a={"batch_size": 16, "bn_kernel": "fused"})
    runs = [train_tiny(tmp_path / str(k), tiny_data, "A", cfg) for k in range(2)]
    loaded = [keras.models.load_model(out / "model.keras") for out, _ in runs]
    assert not any(_fused(m) for m in loaded)
    for u, v in zip(*(m.get_weights() for m in loaded), strict=True):
        assert np.array_equal(u, v)
    stock, _ = train_tiny(
        tmp_path / "keras", tiny_data, "A", {**cfg, "model_a": {**cfg["model_a"], "bn_kernel": "keras"}}
    )
    # another kernel: the same run up to rounding, not bit for bit (so bn_kernel was not ignored)
    other = keras.models.load_model(stock / "model.keras").get_weights()
    assert not all(np.array_equal(u, v) for u, v in zip(loaded[0].get_weights(), other, strict=True))
