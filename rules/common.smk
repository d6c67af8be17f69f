# Helpers shared by several rules. Paths are relative to the working directory (--directory).
import json
import os
import shlex
import subprocess
from pathlib import Path

# Jobs run `python -m workflow_scripts.X`: the package is importable wherever a job runs (any working
# directory, a cluster node, a conda environment) without being installed there.
# (An unset PYTHONPATH falls back to the base folder again: never to an empty entry, which is the cwd.)
BASEDIR_Q = shlex.quote(workflow.basedir)
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={BASEDIR_Q}:${{{{PYTHONPATH:-{BASEDIR_Q}}}}}; "
)
ENV = "../envs/workflow.yaml"

SPLITS = ["train", "val", "test"]
SYNTHETIC_ARCHIVE = "results/synthetic/UTKFace-synthetic.tar.gz"
DATA = "results/data"


def archive_path():
    """The archive to extract: a local copy if configured, else the download target."""
    if config["dataset"]["local_archive"]:
        return config["dataset"]["local_archive"]
    return os.path.join(
        "resources", os.path.basename(config["dataset"]["url"].split("?")[0])
    )


def images_dir():
    """The folder of images: a configured extracted folder, else our extraction output."""
    return config["dataset"]["local_dir"] or f"{DATA}/extracted"


def data_targets():
    return expand(f"{DATA}/arrays/{{split}}_images.npy", split=SPLITS)


MODELS = ["A", "B"]
SEEDS = config["seeds"] or [config["seed"]]
# the same values as command-line arguments, for the rules that pass them on
AGE_BINS_ARG = ",".join(map(str, config["split"]["age_bins"]))
MODELS_ARG = " ".join(MODELS)
SEEDS_ARG = " ".join(map(str, SEEDS))
MODEL_DIR = "results/models/{model}/seed_{seed}"
EVAL_DIR = "results/eval/{model}/seed_{seed}/{split}"
VGG_WEIGHTS = os.path.join(
    "resources", os.path.basename(config["model_b"]["weights_url"])
)


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


def git_commit():
    """The workflow's commit for the report, flagged when the checkout has uncommitted changes."""
    try:
        git = ["git", "-C", workflow.basedir]
        sha = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        )
        flag = " (with uncommitted changes)" if dirty.stdout.strip() else ""
        return f"{sha.stdout.strip()}{flag}"
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


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
    return expand(
        f"{EVAL_DIR}/metrics.json", model=MODELS, seed=SEEDS, split=["val", "test"]
    )
