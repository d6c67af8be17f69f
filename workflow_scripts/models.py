"""The study's two multi-task CNNs (outputs `age`, linear, and `gender`, sigmoid).

Model A: a custom CNN trained from scratch. Model B: VGG16 (no top) fine-tuned with gradual unfreezing.
The defaults reproduce the study's trainable-parameter counts at 128 px: 1,015,906 (A) and, with the
VGG16 base frozen, 1,449,474 (B).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
from keras import layers

from .batchnorm import FusedBatchNormalization, layer_class, stock_config
from .settings import Augmentation, ModelA, ModelB, ModelCommon

OUTPUTS = ("age", "gender")
VGG_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="utkface")
class RandomShear(keras.layers.RandomShear):
    """keras.layers.RandomShear that loads back after saving.

    The stock layer saves its symmetric factor as the range (-f, f), which its own constructor then
    refuses (keras-team/keras#21110); we save f instead.
    """

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        for key in ("x_factor", "y_factor"):
            v = cfg.get(key)
            if isinstance(v, (tuple, list)) and len(v) == 2 and v[0] == -v[1]:
                cfg[key] = float(v[1])
        return cfg


@keras.saving.register_keras_serializable(package="utkface")
class VGGPreprocess(layers.Layer):
    """VGG16's own input preprocessing ('caffe' mode): RGB -> BGR, minus the ImageNet channel means."""

    def call(self, x):
        x = keras.ops.flip(x, axis=-1)
        return x - keras.ops.convert_to_tensor(VGG_MEAN_BGR, dtype=x.dtype)


@keras.saving.register_keras_serializable(package="utkface")
class Passthrough(layers.Layer):
    """Stands where the augmentation was in an exported, inference-only model."""

    def call(self, x, mask=None, training=None):
        return x


def inference_model(model: keras.Model) -> keras.Model:
    """`model` without its augmentation layers (inactive at inference anyway): the model to export."""

    def strip(layer):
        if layer.name == "augmentation":
            return Passthrough(name="no_augmentation")
        return layer.__class__.from_config(layer.get_config())

    inf = keras.models.clone_model(model, clone_function=strip)
    inf.set_weights(model.get_weights())
    # one call builds the graph: the ONNX export refuses a model that was never called
    size = inf.input_shape[1]
    inf(np.zeros((1, size, size, 3), dtype="float32"))
    return inf


def augmentation(aug: Augmentation, seed: int) -> keras.Sequential | None:
    """Flip, rotation, zoom, translation and shear; active only in training. None when all are off: a
    Sequential with no layers cannot be built, and no augmentation is no layer."""
    steps: list[layers.Layer] = []
    if aug.flip != "none":
        steps.append(layers.RandomFlip(aug.flip, seed=seed))
    if aug.rotation:
        steps.append(layers.RandomRotation(aug.rotation, fill_mode="reflect", seed=seed + 1))
    if aug.zoom:
        steps.append(layers.RandomZoom(aug.zoom, fill_mode="reflect", seed=seed + 2))
    if aug.translation:
        t = aug.translation
        steps.append(layers.RandomTranslation(t, t, fill_mode="reflect", seed=seed + 3))
    if aug.shear:
        steps.append(RandomShear(aug.shear, aug.shear, fill_mode="reflect", seed=seed + 4))
    return keras.Sequential(steps, name="augmentation") if steps else None


def _augmented(x, aug: Augmentation, seed: int):
    layer = augmentation(aug, seed)
    return layer(x) if layer is not None else x


# (hidden layers, the linear age output, the sigmoid gender output); "keras": Keras' default everywhere
INITIALIZERS = {
    "study": ("he_uniform", "he_uniform", "glorot_normal"),
    "keras": ("glorot_uniform", "glorot_uniform", "glorot_uniform"),
}


def _norm_act(x, name: str, cfg: ModelCommon):
    """BatchNorm (trained through the config's kernel) and ReLU in the order the config names (the study:
    BatchNorm before the ReLU)."""
    bn = layer_class(cfg.bn_kernel)(momentum=cfg.bn_momentum, name=f"{name}_bn")
    relu = layers.ReLU(name=f"{name}_relu")
    return relu(bn(x)) if cfg.bn_position == "before_relu" else bn(relu(x))


def _conv_block(x, filters: int, name: str, cfg: ModelA):
    init = INITIALIZERS[cfg.initializers][0]
    x = layers.Conv2D(filters, cfg.kernel_size, padding="same", use_bias=False, kernel_initializer=init,
                      name=f"{name}_conv")(x)  # fmt: skip
    x = _norm_act(x, name, cfg)
    x = layers.MaxPooling2D(name=f"{name}_pool")(x)
    rate = cfg.spatial_dropout
    if rate and cfg.conv_dropout == "spatial":  # whole feature maps, as in the study
        x = layers.SpatialDropout2D(rate, name=f"{name}_sdrop")(x)
    elif rate:  # element-wise at the same rate: the variant the study argues against
        x = layers.Dropout(rate, name=f"{name}_drop")(x)
    return x


def _dense_block(x, units: int, name: str, cfg: ModelCommon):
    init = INITIALIZERS[cfg.initializers][0]
    x = layers.Dense(units, kernel_initializer=init, name=f"{name}_dense")(x)
    x = _norm_act(x, name, cfg)
    return layers.Dropout(cfg.dropout, name=f"{name}_drop")(x) if cfg.dropout else x


def _heads(age, gender, initializers: str):
    _, age_init, gender_init = INITIALIZERS[initializers]
    # float32 outputs even under mixed precision, so losses and metrics stay exact
    age = layers.Dense(1, kernel_initializer=age_init, dtype="float32", name="age")(age)
    gender = layers.Dense(
        1, activation="sigmoid", kernel_initializer=gender_init, dtype="float32", name="gender"
    )(gender)
    return {"age": age, "gender": gender}


def build_model_a(image_size: int, cfg: ModelA, aug: Augmentation, seed: int) -> keras.Model:
    """Custom CNN: shared conv blocks, then an age and a gender branch of conv blocks and a dense head.
    `trunk: separate` gives each output its own copy of the shared blocks: two single-task networks in one
    model (no layer in common, so neither loss reaches the other's weights)."""
    inp = keras.Input((image_size, image_size, 3), name="image")
    x = _augmented(inp, aug, seed)
    x = layers.Rescaling(1 / 255, name="rescale")(x)
    shared = x
    if cfg.trunk == "shared":
        for i, f in enumerate(cfg.shared_filters):
            shared = _conv_block(shared, f, f"shared{i + 1}", cfg)
    branches, filters = {}, {"age": cfg.age_filters, "gender": cfg.gender_filters}
    for out in OUTPUTS:
        y = shared
        if cfg.trunk == "separate":
            for i, f in enumerate(cfg.shared_filters):
                y = _conv_block(y, f, f"{out}_trunk{i + 1}", cfg)
        for i, f in enumerate(filters[out]):
            y = _conv_block(y, f, f"{out}{i + 1}", cfg)
        y = layers.Flatten(name=f"{out}_flatten")(y)
        branches[out] = _dense_block(y, cfg.dense_units, f"{out}_fc", cfg)
    return keras.Model(inp, _heads(branches["age"], branches["gender"], cfg.initializers), name="model_a")


def build_model_b(
    image_size: int, cfg: ModelB, aug: Augmentation, seed: int, weights: str | None = None
) -> keras.Model:
    """VGG16 without top (frozen), global average pooling (or Flatten), then age and gender dense heads.

    `weights`: None (random init) or a path to the no-top ImageNet weights file.
    """
    inp = keras.Input((image_size, image_size, 3), name="image")
    x = _augmented(inp, aug, seed)
    x = VGGPreprocess(name="vgg_preprocess")(x)
    base = keras.applications.VGG16(
        include_top=False, weights=weights, input_shape=(image_size, image_size, 3)
    )
    base.trainable = False
    x = base(x)
    # the study's global average pooling, or Flatten: the variant with many more head parameters
    gap = cfg.pooling == "gap"
    x = (layers.GlobalAveragePooling2D(name="gap") if gap else layers.Flatten(name="flat"))(x)
    x = layers.Dropout(cfg.pool_dropout, name="gap_drop")(x)
    age = layers.Dropout(cfg.dropout, name="age_in_drop")(x)
    for i, u in enumerate(cfg.age_units):
        age = _dense_block(age, u, f"age_fc{i + 1}", cfg)
    gender = x
    for i, u in enumerate(cfg.gender_units):
        gender = _dense_block(gender, u, f"gender_fc{i + 1}", cfg)
    return keras.Model(inp, _heads(age, gender, cfg.initializers), name="model_b")


def vgg_base(model: keras.Model) -> keras.Model:
    return model.get_layer("vgg16")


def unfreeze(model: keras.Model, n_layers: int) -> None:
    """Make the last `n_layers` layers of the VGG16 base trainable (8 = block4 and block5)."""
    base = vgg_base(model)
    base.trainable = True
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= len(base.layers) - n_layers


def trainable_params(model: keras.Model) -> int:
    return int(sum(keras.ops.size(w) for w in model.trainable_weights))


def compile_model(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    cfg: ModelCommon,
    jit_compile: bool | str = "auto",
) -> None:
    """The config's age loss (the study's MSE: it penalises large errors more than MAE), binary
    cross-entropy for gender, weighted as the config says."""
    model.compile(
        optimizer=optimizer,
        loss={"age": cfg.age_loss, "gender": "binary_crossentropy"},
        loss_weights={"age": cfg.loss_weights.age, "gender": cfg.loss_weights.gender},
        metrics={"age": ["mae"], "gender": ["accuracy"]},
        jit_compile=jit_compile,
    )


def saveable(model: keras.Model) -> keras.Model:
    """`model` as it is saved, evaluated and exported, whatever it was trained in: every layer computing in
    float32 (its variables are float32 under any mixed policy, so the weights carry over exactly) and Keras'
    own BatchNorm in place of the fused one (same weights). `model` itself when it is that already."""
    low = {"mixed_bfloat16", "mixed_float16", "bfloat16", "float16"}
    fused = any(isinstance(layer, FusedBatchNormalization) for layer in walk_layers(model))
    if keras.mixed_precision.global_policy().name == "float32" and not fused:
        return model

    def plain(node: Any) -> Any:
        if isinstance(node, dict):
            node = stock_config(node)
            if node.get("class_name") == "DTypePolicy" and node["config"]["name"] in low:
                return {**node, "config": {**node["config"], "name": "float32"}}
            return {
                k: "float32" if k == "dtype" and isinstance(v, str) and v in low else plain(v)
                for k, v in node.items()
            }
        return [plain(v) for v in node] if isinstance(node, list) else node

    # built under float32: what the config leaves to the global policy (a nested model's own) is float32 too
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        twin = keras.Model.from_config(plain(model.get_config()))
    finally:
        keras.mixed_precision.set_global_policy(policy)
    twin.set_weights(model.get_weights())
    return twin


def walk_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer of `model`, those of nested models too."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from walk_layers(layer)
