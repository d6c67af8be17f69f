# Helpers shared by several rules. Paths are relative to the working directory (--directory).
import json
import os
from pathlib import Path

# Jobs run `python -m workflow_scripts.X`: make the package importable without installing it
# (cluster jobs and conda environments inherit this).
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (workflow.basedir, os.environ.get("PYTHONPATH")) if p
)

SPLITS = ["train", "val", "test"]
SYNTHETIC_ARCHIVE = "results/synthetic/UTKFace-synthetic.tar.gz"
DATA = "results/data"


def archive_path():
    """The archive to extract: a local copy if configured, else the download target."""
    if config["dataset"]["local_archive"]:
        return config["dataset"]["local_archive"]
    return "resources/" + os.path.basename(config["dataset"]["url"].split("?")[0])


def images_dir():
    """The folder of images: a configured extracted folder, else our extraction output."""
    return config["dataset"]["local_dir"] or f"{DATA}/extracted"


def data_targets():
    return expand(f"{DATA}/arrays/{{split}}_images.npy", split=SPLITS)

MODELS = ["A", "B"]
SEEDS = config["seeds"] or [config["seed"]]
MODEL_DIR = "results/models/{model}/seed_{seed}"
EVAL_DIR = "results/eval/{model}/seed_{seed}/{split}"
VGG_WEIGHTS = "resources/" + os.path.basename(config["model_b"]["weights_url"])


EXTRA_FIGURES = [
    "pred_vs_true",
    "mae_by_age_bin",
    "confusion",
    "by_race",
    *[f"faces_{m}" for m in MODELS],
]


def workflow_file(path):
    """A config path as given if it exists here, else relative to the workflow (shipped defaults)."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(workflow.basedir, path)


PUBLISHED = workflow_file(config["report"]["published"])


def train_config(wildcards):
    """Only what shapes a training run, so that editing unrelated keys never retrains a model."""
    keys = ["image_size", "augmentation", f"model_{wildcards.model.lower()}"]
    cfg = {k: config[k] for k in keys}
    cfg["train"] = {k: v for k, v in config["train"].items() if k != "resources"}
    return json.dumps(cfg, sort_keys=True)


def vgg_weights(wildcards):
    """Model B's base weights as an input file ([] for Model A and for random init)."""
    w = config["model_b"]["weights"]
    if wildcards.model != "B" or w == "none":
        return []
    return VGG_WEIGHTS if w == "imagenet" else w


def split_file(split):
    return f"{DATA}/splits/{split}.csv"


def array_file(split):
    return f"{DATA}/arrays/{split}_images.npy"


def model_targets():
    return expand(f"{MODEL_DIR}/model.keras", model=MODELS, seed=SEEDS)


def eval_targets():
    return expand(f"{EVAL_DIR}/metrics.json", model=MODELS, seed=SEEDS, split=["val", "test"])
