"""Model builders: the study's parameter counts, outputs, unfreezing and save/load round trips."""

from dataclasses import replace

import keras
import numpy as np
import pytest
from helpers import full_config

from workflow_scripts import models
from workflow_scripts.settings import Augmentation, LossWeights, for_training

A, B = (for_training(full_config(), m) for m in "AB")
AUG = A.augmentation


@pytest.fixture(scope="module")
def model_a():
    return models.build_model_a(128, A.model, AUG, seed=1)


@pytest.fixture(scope="module")
def model_b():
    return models.build_model_b(128, B.model, AUG, seed=1, weights=None)


def test_model_a_has_the_studys_trainable_parameter_count(model_a):
    assert models.trainable_params(model_a) == 1_015_906


def test_model_b_frozen_has_the_studys_trainable_parameter_count(model_b):
    assert models.trainable_params(model_b) == 1_449_474


def test_unfreezing_opens_exactly_block4_and_block5(model_b):
    clone = models.build_model_b(128, B.model, AUG, seed=1)
    models.unfreeze(clone, 8)
    base = models.vgg_base(clone)
    opened = [layer.name for layer in base.layers if layer.trainable and layer.weights]
    assert opened == [f"block{b}_conv{c}" for b in (4, 5) for c in (1, 2, 3)]
    assert models.trainable_params(clone) == 1_449_474 + 12_979_200


def test_widths_are_config_keys():
    narrow = replace(A.model, shared_filters=(16, 16, 64), dense_units=64)
    small = models.build_model_a(128, narrow, AUG, seed=1)
    assert models.trainable_params(small) < 1_015_906
    assert small.get_layer("shared3_conv").filters == 64


@pytest.mark.parametrize("which", ["a", "b"])
def test_outputs_are_named_and_shaped(which, model_a, model_b):
    m = model_a if which == "a" else model_b
    out = m.predict(np.random.default_rng(0).uniform(0, 255, (2, 128, 128, 3)).astype("float32"), verbose=0)
    assert set(out) == {"age", "gender"}
    assert out["age"].shape == (2, 1) and out["gender"].shape == (2, 1)
    assert ((out["gender"] >= 0) & (out["gender"] <= 1)).all()
    assert m.get_layer("gender").kernel_initializer.__class__.__name__ == "GlorotNormal"


def test_the_stock_random_shear_does_not_load_back(tmp_path):
    """The trap our RandomShear works around (keras-team/keras#21110): if this starts passing, drop ours."""
    m = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.RandomShear(0.1, 0.1)])
    m.save(tmp_path / "stock.keras")
    with pytest.raises(Exception):  # noqa: B017 - any failure to deserialise
        keras.models.load_model(tmp_path / "stock.keras")


@pytest.mark.parametrize("size,which", [(128, "a"), (32, "b")])
def test_save_load_round_trip_gives_identical_predictions(tmp_path, size, which):
    if which == "a":
        m = models.build_model_a(size, A.model, AUG, seed=2)
    else:
        m = models.build_model_b(size, B.model, AUG, seed=2)
    models.compile_model(
        m, keras.optimizers.Adam(1e-3), replace(A.model, loss_weights=LossWeights(age=1.0, gender=10.0))
    )
    m.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(1).uniform(0, 255, (4, size, size, 3)).astype("float32")
    a, b = m.predict(x, verbose=0), back.predict(x, verbose=0)
    for k in ("age", "gender"):
        np.testing.assert_array_equal(a[k], b[k])
    assert isinstance(back.get_layer("augmentation").layers[-1], models.RandomShear)


def test_augmentation_changes_training_inputs_only():
    aug = models.augmentation(AUG, seed=3)
    x = np.random.default_rng(2).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)
    assert not np.allclose(np.asarray(aug(x, training=True)), x)


def test_vgg_preprocessing_is_keras_own_rgb_to_bgr_minus_the_imagenet_means():
    x = np.random.default_rng(4).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    ours = np.asarray(models.VGGPreprocess()(x))
    ref = keras.applications.vgg16.preprocess_input(x.copy())
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    red = np.zeros((1, 1, 1, 3), "float32")
    red[..., 0] = 255  # pure red lands in the last (R) channel of BGR
    np.testing.assert_allclose(np.asarray(models.VGGPreprocess()(red))[0, 0, 0], [-103.939, -116.779, 131.32])


def test_flip_none_means_no_flip_layer():
    kinds = lambda aug: [type(layer).__name__ for layer in models.augmentation(aug, seed=1).layers]  # noqa: E731
    assert "RandomFlip" in kinds(AUG)
    assert "RandomFlip" not in kinds(replace(AUG, flip="none"))


def test_a_local_vgg16_weights_file_is_loaded_into_the_base(tmp_path):
    first = models.build_model_b(32, B.model, AUG, seed=1, weights=None)
    models.vgg_base(first).save_weights(tmp_path / "vgg16_notop.weights.h5")
    keras.utils.set_random_seed(99)  # another random init, which the file must overwrite
    loaded = models.build_model_b(32, B.model, AUG, seed=2, weights=str(tmp_path / "vgg16_notop.weights.h5"))
    for a, b in zip(models.vgg_base(first).get_weights(), models.vgg_base(loaded).get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


NO_AUGMENTATION = Augmentation(flip="none", rotation=0, zoom=0, translation=0, shear=0)


@pytest.mark.parametrize("which,size,count", [("a", 128, 1_015_906), ("b", 32, 1_449_474)])
def test_augmentation_off_builds_without_an_augmentation_layer_and_trains(which, size, count):
    if which == "a":
        m = models.build_model_a(size, A.model, NO_AUGMENTATION, seed=1)
    else:
        m = models.build_model_b(size, B.model, NO_AUGMENTATION, seed=1, weights=None)
    assert "augmentation" not in [layer.name for layer in m.layers]
    assert models.trainable_params(m) == count  # the same as with the augmentation on
    x = np.random.default_rng(5).uniform(0, 255, (2, size, size, 3)).astype("float32")
    out = m.predict(x, verbose=0)
    assert out["age"].shape == (2, 1) and out["gender"].shape == (2, 1)
    models.compile_model(m, keras.optimizers.Adam(1e-3), A.model)
    loss = m.train_on_batch(x, {"age": np.array([[30.0], [40.0]]), "gender": np.array([[0.0], [1.0]])})
    assert np.isfinite(np.asarray(loss, dtype=float)).all()


# The claims' variants: each undoes one of the study's choices through a config key of the builders.
def _a(**change):
    return models.build_model_a(64, replace(A.model, **change), AUG, seed=1)


def _b(**change):
    return models.build_model_b(64, replace(B.model, **change), AUG, seed=1)


def _layer_order(model, kinds):
    return [type(layer).__name__ for layer in model.layers if type(layer).__name__ in kinds]


def test_batchnorm_after_relu_swaps_the_order_with_the_same_parameters():
    before, after = _a(), _a(bn_position="after_relu")
    kinds = {"BatchNormalization", "ReLU"}
    assert _layer_order(before, kinds)[:2] == ["BatchNormalization", "ReLU"]
    assert _layer_order(after, kinds)[:2] == ["ReLU", "BatchNormalization"]
    assert models.trainable_params(after) == models.trainable_params(before)


def test_elementwise_dropout_replaces_spatial_dropout_at_the_same_rate():
    spatial, elementwise = _a(), _a(conv_dropout="elementwise")
    assert not [x for x in elementwise.layers if isinstance(x, keras.layers.SpatialDropout2D)]
    drops = [x for x in elementwise.layers if x.name.endswith("_drop") and "fc" not in x.name]
    sdrops = [x for x in spatial.layers if isinstance(x, keras.layers.SpatialDropout2D)]
    assert len(drops) == len(sdrops) > 0
    assert {x.rate for x in drops} == {x.rate for x in sdrops} == {A.model.spatial_dropout}


@pytest.mark.parametrize("build", [_a, _b])
def test_keras_default_initialisers_replace_he_uniform_and_glorot_normal(build):
    study, default = build(), build(initializers="keras")
    names = {type(x.kernel_initializer).__name__ for x in default.layers if hasattr(x, "kernel_initializer")}
    assert names == {"GlorotUniform"}
    assert type(study.get_layer("age").kernel_initializer).__name__ == "HeUniform"
    assert models.trainable_params(default) == models.trainable_params(study)


def test_separate_trunks_are_two_single_task_networks():
    shared, separate = _a(), _a(trunk="separate")
    assert [x.name for x in separate.layers if x.name.startswith("shared")] == []
    assert models.trainable_params(separate) > models.trainable_params(shared)
    # no layer feeds both outputs: the age output's ancestry holds no gender-branch layer and vice versa
    for out, other in (("age", "gender"), ("gender", "age")):
        sub = keras.Model(separate.input, separate.get_layer(out).output)
        assert not [x.name for x in sub.layers if x.name.startswith(other)], out


def test_flatten_instead_of_global_average_pooling_adds_head_parameters():
    gap, flat = _b(), _b(pooling="flatten")
    assert "flat" in [x.name for x in flat.layers] and "gap" not in [x.name for x in flat.layers]
    # 64 px: VGG16 leaves 2 x 2 x 512 features, four times GAP's 512, into the first dense layer of each head
    first = B.model.age_units[0] + B.model.gender_units[0]
    assert models.trainable_params(flat) - models.trainable_params(gap) == 3 * 512 * first


def test_the_age_loss_is_a_config_choice():
    m = _a()
    models.compile_model(m, keras.optimizers.Adam(1e-3), replace(A.model, age_loss="mae"))
    x = np.full((4, 64, 64, 3), 128, dtype="float32")
    y = {"age": np.full((4, 1), 30.0, dtype="float32"), "gender": np.zeros((4, 1), dtype="float32")}
    pred = m.predict(x, verbose=0)["age"]
    got = m.evaluate(x, y, verbose=0, return_dict=True)
    assert got["age_loss"] == pytest.approx(float(np.abs(pred - 30.0).mean()), rel=1e-4)
