# Everything the rules share, in four groups: constants, path helpers, input functions (get_*), targets.
# Every path under results/ is spelled here once; rules name these, or other rules' outputs.
import json
import os
import shlex
import sys

from workflow_scripts.claims import apply_variant, load_claims
from workflow_scripts.claims_grid import STUDY, estimate, make_grid, reference_rates
from workflow_scripts.configcheck import load_yaml
from workflow_scripts.figure_names import extra_figures, report_figures
from workflow_scripts.folders import fingerprint
from workflow_scripts.jobenv import prepare_job_environment
from workflow_scripts.settings import RULE_ONLY

# ---------------------------------------------------------------------------------------------- constants

ENV = "../envs/workflow.yaml"
# GPU deployments (train.require_gpu) get TensorFlow's CUDA build for training under --sdm conda
TRAIN_ENV = "../envs/workflow-gpu.yaml" if config["train"]["require_gpu"] else ENV
# Jobs run `python -m workflow_scripts.X` with the Python running Snakemake (or their conda env's).
prepare_job_environment(WORKFLOW_ROOT)

SPLITS = ["train", "val", "test"]
EVAL_SPLITS = ["val", "test"]
MODELS = ["A", "B"]
SEEDS = config["seeds"] or [config["seed"]]
# the first seed's run stands for its model in the figures
SEED0 = SEEDS[0]
FIGURE_NAMES = report_figures(MODELS)
# other test sets: name -> its config entry; each is evaluated as the split "external_<name>"
EXTERNAL = {e["name"]: e for e in config["evaluate"]["external"]}
EXTERNAL_SPLITS = [f"external_{name}" for name in EXTERNAL]
# predictions on photos: a user's `predict.input`, or the demo's drawn scenes
PREDICTING = bool(config["predict"]["input"] or config["predict"]["scenes"])
# debugging aid: run every job in a shadow folder, where undeclared files are out of reach
SHADOW = config["debug"]["shadow"]


# -------------------------------------------------------------------------------------------------- paths

SYNTHETIC_ARCHIVE = "results/synthetic/UTKFace-synthetic.tar.gz"
DATA = "results/data"
EXTRACTED = f"{DATA}/extracted"
LABELS = f"{DATA}/labels.csv"
REJECTED = f"{DATA}/labels_rejected.csv"
# every accepted image's pixels, decoded once by the label check; row i = row i of LABELS
PIXELS = f"{DATA}/labelled_pixels.npy"
SPLIT = f"{DATA}/splits/{{split}}.csv"
ARRAY = f"{DATA}/arrays/{{split}}_images.npy"
# every training is a (model, variant, seed): the main run's variant is STUDY; the claims grid adds its own
MODEL_DIR = "results/models/{model}/{variant}/seed_{seed}"
MODEL = f"{MODEL_DIR}/model.keras"
HISTORY = f"{MODEL_DIR}/history.csv"
TRAIN_INFO = f"{MODEL_DIR}/train_info.json"
# resume state of a killed training: scratch, deliberately not an output (Snakemake would delete it)
RESUME_DIR = f"{MODEL_DIR}/_resume"
TRAIN_LOG = "logs/train/{model}_{variant}_seed_{seed}.log"
TENSORBOARD_DIR = "logs/tensorboard/{model}_{variant}_seed_{seed}"
TRAIN_BENCHMARK = "benchmarks/train/{model}_{variant}_seed_{seed}.tsv"
# the data-size curve's training sets: nested stratified subsets of the training split (and beyond it)
SUBSET_SPLIT = f"{DATA}/subsets/train_n{{size}}.csv"
SUBSET_ARRAY = f"{DATA}/subsets/train_n{{size}}_images.npy"
EVAL_DIR = "results/eval/{model}/{variant}/seed_{seed}/{split}"
PREDICTIONS = f"{EVAL_DIR}/predictions.csv"
METRICS = f"{EVAL_DIR}/metrics.json"
FIGURE_PNG = "results/figures/{figure}.png"
FIGURE_SVG = "results/figures/{figure}.svg"
COMPARISON_CSV = "results/comparison.csv"
COMPARISON_HTML = "results/comparison.html"
REPORT_HTML = "results/report/index.html"
EXT_SYNTHETIC = "results/external/{name}/images"
EXT_LABELS = "results/external/{name}/labels.csv"
EXT_REJECTED = "results/external/{name}/labels_rejected.csv"
EXT_ARRAY = "results/external/{name}/images.npy"
MODEL_DIFFERENCE = "results/model_difference.json"
CLAIMS_DIR = "results/claims"
CLAIMS_CSV = f"{CLAIMS_DIR}/claims.csv"
CLAIMS_HTML = f"{CLAIMS_DIR}/claims.html"
DATA_SIZE_CSV = f"{CLAIMS_DIR}/data_size.csv"
CLAIMS_FIGURE_PNG = f"{CLAIMS_DIR}/{{figure}}.png"
CLAIMS_FIGURE_SVG = f"{CLAIMS_DIR}/{{figure}}.svg"
# the demo's drawn photos (`predict.scenes`): a folder of our own, never a user's `predict.input`
SCENES = "results/scenes"
PREDICT_DIR = "results/predict/{model}_seed_{seed}"
PREDICT_CSV = f"{PREDICT_DIR}/predictions.csv"
PREDICT_ANNOTATED = f"{PREDICT_DIR}/annotated"
PREDICT_GALLERY = f"{PREDICT_DIR}/index.html"
EXPORT_DIR = "results/export/{model}_seed_{seed}"
MODEL_CARD_TEMPLATE = os.path.join(WORKFLOW_ROOT, "report", "model_card.md.j2")
# the bench's training rates (bench/bench_train.py --rates-out): the grid's cost before any benchmark
TRAIN_RATES = os.path.join(WORKFLOW_ROOT, "bench", "train_rates.json")
VGG_WEIGHTS = os.path.join(
    "resources", os.path.basename(config["model_b"]["weights_url"])
)
DOWNLOADED_ARCHIVE = os.path.join(
    "resources", os.path.basename(config["dataset"]["url"].split("?")[0])
)


def split_file(split):
    return SPLIT.format(split=split)


def array_file(split):
    return ARRAY.format(split=split)


def workflow_file(path):
    """A config path as given if it exists here, else relative to the workflow (shipped defaults)."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(WORKFLOW_ROOT, path)


PUBLISHED = workflow_file(config["report"]["published"])
CLAIMS_FILE = workflow_file(config["claims"]["file"])
# the claims grid: which (model, variant, seed) runs the claims, the data-size curve and the study-wide
# claims need; variants name config overrides, STUDY (the main run) none
GRID = make_grid(
    config,
    load_claims(
        CLAIMS_FILE,
        os.path.join(WORKFLOW_ROOT, "config", "claims.schema.yaml"),
        os.path.join(WORKFLOW_ROOT, "config", "schema.yaml"),
    ),
    load_yaml(os.path.join(WORKFLOW_ROOT, "config", "schema.yaml")),
    # checked only when asked for: a main run need not be able to carry a grid
    strict=config["claims"]["enabled"] or "claims" in sys.argv[1:],
)
REPORT_TEMPLATE = os.path.join(WORKFLOW_ROOT, "report", "report.html.j2")
# the one stylesheet every page includes, and the galleries' page (`utkface predict` finds it itself)
STYLE_SHEET = os.path.join(WORKFLOW_ROOT, "report", "style.css")
GALLERY_TEMPLATE = os.path.join(WORKFLOW_ROOT, "report", "gallery.html.j2")
CLAIMS_TEMPLATE = os.path.join(WORKFLOW_ROOT, "report", "claims.html.j2")
CLAIMS_TEMPLATE_PARTS = [
    os.path.join(WORKFLOW_ROOT, "report", f"claims_{p}.html.j2")
    for p in ("intro", "table")
]

# --------------------------------------------------------------------------------------- input functions


def get_archive():
    """The archive to extract: the synthetic set, a local copy, or the download target."""
    if config["synthetic"]["enabled"]:
        return SYNTHETIC_ARCHIVE
    return config["dataset"]["local_archive"] or DOWNLOADED_ARCHIVE


def get_archive_key():
    """The config key that names the archive, for the extraction's error messages."""
    if config["synthetic"]["enabled"]:
        return "synthetic.enabled"
    return (
        "dataset.local_archive" if config["dataset"]["local_archive"] else "dataset.url"
    )


def get_images_dir():
    """The folder of images: a configured extracted folder, else our extraction output."""
    return config["dataset"]["local_dir"] or EXTRACTED


def folder_content(folder, made_by):
    """For a user's folder, a hash of its files' names, sizes and times, so that a file replaced, added or
    truncated in place reruns the jobs that read it (Snakemake itself only sees the folder). A folder that
    the workflow makes (`folder` None) changes only with its own inputs, and `made_by` stands for it.
    """
    return fingerprint(folder) if folder else made_by


def get_images_fingerprint():
    """`dataset.local_dir`'s content, for the labels."""
    return folder_content(config["dataset"]["local_dir"], "extracted from the archive")


def get_external_dir(wildcards):
    """An external test set's folder: the user's, or the synthetic one our rule draws."""
    entry = EXTERNAL[wildcards.name]
    return entry["path"] or EXT_SYNTHETIC.format(name=wildcards.name)


def get_external_fingerprint(wildcards):
    return folder_content(
        EXTERNAL[wildcards.name]["path"], "drawn by external_synthetic"
    )


def _eval_file(split, ours, external):
    """`ours` for our own splits, `external` for the split "external_<name>" of another test set."""
    if split.startswith("external_"):
        return external.format(name=split.removeprefix("external_"))
    return ours.format(split=split)


def get_eval_array(wildcards):
    """The images of an evaluated split: ours, or an external set's."""
    return _eval_file(wildcards.split, ARRAY, EXT_ARRAY)


def get_eval_labels(wildcards):
    return _eval_file(wildcards.split, SPLIT, EXT_LABELS)


def get_predict_photos():
    """What `predict` reads: the user's `predict.input`, or the scenes drawn into our own folder (the config
    check allows one of the two, so a user's folder is never an output of ours)."""
    return config["predict"]["input"] or SCENES


def get_predict_fingerprint():
    """New, removed or replaced photos in a user's `predict.input` rerun the predictions."""
    return folder_content(config["predict"]["input"], "drawn by demo_scenes")


def get_vgg_weights(wildcards):
    """Model B's base weights as an input file ([] for Model A and for random init)."""
    w = variant_config(wildcards.variant)["model_b"]["weights"]
    if wildcards.model != "B" or w == "none":
        return []
    return VGG_WEIGHTS if w == "imagenet" else w


def variant_config(variant):
    """The config a variant trains with: the main config under the variant's overrides."""
    return apply_variant(config, GRID.variants[variant])


def training_config(model, variant):
    """Only what shapes a training run (JSON), so that editing unrelated keys never retrains a model."""
    varied = variant_config(variant)
    keys = ["image_size", "augmentation", f"model_{model.lower()}"]
    cfg = {k: varied[k] for k in keys}
    cfg["train"] = {k: v for k, v in varied["train"].items() if k not in RULE_ONLY}
    return json.dumps(cfg, sort_keys=True)


def get_train_config(wildcards):
    return training_config(wildcards.model, wildcards.variant)


def get_train_resource(name):
    """A training's `train.resources.<name>`, the variant's own (`claims.overrides` may shrink the grid's)."""

    def resource(wildcards):
        return variant_config(wildcards.variant)["train"]["resources"][name]

    return resource


def get_tensorboard(wildcards):
    """`--tensorboard` when `train.tensorboard` asks for the run's events (into its log folder)."""
    return (
        "--tensorboard"
        if variant_config(wildcards.variant)["train"]["tensorboard"]
        else ""
    )


def get_b_note():
    """Said on every claims row that involves Model B, when the grid's B starts from random weights."""
    if variant_config(GRID.baseline)["model_b"]["weights"] != "none":
        return ""
    return "Model B from random weights (no ImageNet file): says nothing of fine-tuning"


def get_study_config(wildcards):
    """The main run's training config of a model (for the rules that use its models)."""
    return training_config(wildcards.model, STUDY)


def _train_input(wildcards, whole, subset):
    size = GRID.sizes.get(wildcards.variant)
    return whole if size is None else subset.format(size=size)


def get_train_images(wildcards):
    """The training images of a run: the training split, or a data-size variant's subset of it."""
    return _train_input(wildcards, array_file("train"), SUBSET_ARRAY)


def get_train_split(wildcards):
    return _train_input(wildcards, split_file("train"), SUBSET_SPLIT)


def study(path):
    """`path` of the main run (the variant STUDY), its other wildcards left."""
    return path.replace("{variant}", STUDY)


def per_run(path, **fixed):
    """`path` for every (model, seed) run of the main run, in one fixed order shared by all rules and
    scripts."""
    return expand(study(path), **{"model": MODELS, "seed": SEEDS, **fixed})


def per_grid_run(path, **fixed):
    """`path` for every (model, variant, seed) run of the claims grid, in GRID.runs() order."""
    return [path.format(model=m, variant=v, seed=s, **fixed) for m, v, s in GRID.runs()]


# ------------------------------------------------------------------------------------------------ targets


def data_targets():
    return expand(ARRAY, split=SPLITS)


def model_targets():
    return per_run(MODEL)


def use_targets():
    """Predictions on `predict.input` (or the drawn scenes) and the exports, for each model's first seed,
    when configured."""
    out = []
    if PREDICTING:
        out += expand(PREDICT_GALLERY, model=MODELS, seed=SEED0)
    if config["export"]["formats"]:
        out += expand(EXPORT_DIR, model=MODELS, seed=SEED0)
    return out


def eval_targets():
    return per_run(METRICS, split=EVAL_SPLITS + EXTERNAL_SPLITS)


def claims_figures():
    """The claims' figures: the forest plot, and the data-size curve when `claims.data_sizes` asks."""
    names = ["forest", *(["data_size"] if GRID.sizes else [])]
    return expand(CLAIMS_FIGURE_PNG, figure=names)


def claims_report_input(what):
    """A file list the report's claims section reads (`table`, `figures`, `templates`), when
    `claims.enabled`; empty otherwise."""
    if not config["claims"]["enabled"]:
        return []
    return {
        "table": [CLAIMS_CSV],
        "figures": claims_figures(),
        "templates": CLAIMS_TEMPLATE_PARTS,
    }[what]


def claims_report_args(wildcards):
    """The report's claims grid spec (none without the grid)."""
    if not config["claims"]["enabled"]:
        return ""
    return f"--claims-grid {shlex.quote(json.dumps(GRID.spec()))}"


def named_inputs(wildcards, input):
    """A job's named inputs as one JSON object (name: path, or list of paths) for a script that reads many
    files: a new input is then one line of the rule's `input:` and one read in the script.
    """
    return json.dumps(
        {k: v if isinstance(v, str) else list(v) for k, v in input.items()}
    )


def get_card_facts(wildcards, input):
    """What `export --card` writes the model card from (JSON): the card's inputs, the model's training
    config and whether the data were synthetic."""
    facts = {
        "template": input.template,
        "metrics": list(input.metrics),
        "info": input.info,
        "splits": list(input.splits),
        "config": json.loads(get_study_config(wildcards)),
        "synthetic": config["synthetic"]["enabled"],
    }
    return json.dumps(facts)


def claims_targets():
    """The claims grid's table, page and figures when `claims.enabled` (else `snakemake claims`)."""
    return rules.claims.input if config["claims"]["enabled"] else []


def say_grid_cost():
    """The grid's size and cost on the terminal, when it is wanted (enabled, or the `claims` target)."""
    # as GRID's `strict`
    wanted = config["claims"]["enabled"] or "claims" in sys.argv[1:]
    if wanted and workflow.is_main_process:
        done = lambda m, v, s: os.path.exists(MODEL.format(model=m, variant=v, seed=s))
        epochs = lambda m, v: (
            variant_config(v)["train"]["epochs"]
            or variant_config(v)[f"model_{m.lower()}"]["epochs"]
        )
        main_runs = [(m, STUDY, s) for m in MODELS for s in SEEDS]
        reference = reference_rates(TRAIN_RATES, config["image_size"])
        line = estimate(GRID, TRAIN_BENCHMARK, done, epochs, main_runs, reference)
        print(line, file=sys.stderr)


# the same values as command-line arguments, for the rules that pass them on
AGE_BINS_ARG = ",".join(map(str, config["split"]["age_bins"]))
MODELS_ARG = " ".join(MODELS)
