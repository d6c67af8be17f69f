"""Typed settings for training and the model builders: small frozen dataclasses built once from the
validated config (the schema has filled every default by then), as nanoGPT's GPTConfig.

They hold no defaults of their own: building one from a section that lacks a key, or has one they do not
know, fails naming the key, and a test keeps their fields equal to the schema's keys.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Augmentation:
    flip: str
    rotation: float
    zoom: float
    translation: float
    shear: float


@dataclass(frozen=True)
class LossWeights:
    age: float
    gender: float


@dataclass(frozen=True)
class ModelCommon:
    """The keys both models' sections have: length and rate of training, the dense layers, the schedule and
    the loss."""

    epochs: int
    batch_size: int
    learning_rate: float
    dropout: float
    bn_momentum: float
    bn_position: str
    bn_kernel: str
    initializers: str
    loss_weights: LossWeights
    age_loss: str
    lr_schedule: str
    lr_factor: float
    lr_patience: int
    min_lr: float


@dataclass(frozen=True)
class ModelA(ModelCommon):
    shared_filters: tuple[int, ...]
    age_filters: tuple[int, ...]
    gender_filters: tuple[int, ...]
    kernel_size: int
    dense_units: int
    spatial_dropout: float
    conv_dropout: str
    trunk: str


@dataclass(frozen=True)
class ModelB(ModelCommon):
    weights: str
    weights_url: str
    weights_md5: str | None
    frozen_epochs: int
    frozen_learning_rate: float
    weight_decay: float
    unfreeze_layers: int
    age_units: tuple[int, ...]
    gender_units: tuple[int, ...]
    pool_dropout: float
    unfrozen_optimizer: str
    pooling: str


# keys of `train` that the train rule reads itself and does not pass on to a training
RULE_ONLY = ("resources", "tensorboard")


@dataclass(frozen=True)
class Training:
    """`train`, less RULE_ONLY."""

    require_gpu: bool
    epochs: int | None
    deterministic: bool | None
    mixed_precision: bool
    precision: str
    memory_share: float


@dataclass(frozen=True)
class Run:
    """What one training reads of the config: the image size, the augmentation, its model's section and
    `train` (the train rule passes exactly these)."""

    name: str
    image_size: int
    augmentation: Augmentation
    model: ModelA | ModelB
    train: Training

    @property
    def epochs(self) -> int:
        """`train.epochs` when set (the demo's and tests' shortcut), else the model's own."""
        return self.train.epochs or self.model.epochs


T = typing.TypeVar("T")


def build(cls: type[T], values: Mapping[str, Any], where: str) -> T:
    """`cls` from the config section `values` (its key `where`, named in errors); lists become tuples."""
    if not isinstance(values, Mapping):
        raise TypeError(f"config key {where}: expected a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    key = lambda n: f"{where}.{n}"  # noqa: E731
    missing = [key(n) for n in names if n not in values]
    unknown = sorted(key(k) for k in values if k not in names)
    if missing or unknown:
        what = [f"missing {k}" for k in missing] + [f"unknown {k}" for k in unknown]
        raise ValueError(f"config: {'; '.join(what)} (settings are built from the validated config)")
    out = {}
    for n in names:
        v = values[n]
        if dataclasses.is_dataclass(hints[n]):
            v = build(hints[n], v, key(n))
        elif isinstance(v, list):
            v = tuple(v)
        out[n] = v
    return cls(**out)


def for_training(cfg: Mapping[str, Any], model: str) -> Run:
    """The typed settings of Model `model`'s ('A' or 'B') training, from a validated config."""
    if model not in ("A", "B"):
        raise ValueError(f"model {model!r}: A or B")
    key = f"model_{model.lower()}"
    cls = ModelA if model == "A" else ModelB
    train = {k: v for k, v in cfg["train"].items() if k not in RULE_ONLY}
    return Run(
        name=model,
        image_size=cfg["image_size"],
        augmentation=build(Augmentation, cfg["augmentation"], "augmentation"),
        model=build(cls, cfg[key], key),
        train=build(Training, train, "train"),
    )
