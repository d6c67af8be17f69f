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
