# utkface-repro: reproduce the UTKFace age/gender two-CNN study end to end.
# Usage: snakemake --cores 8 --resources gpu=1            (the real reproduction, config/config.yaml)
#        snakemake --cores 2 --configfile config/demo.yaml (the synthetic CPU demo)
# As a module of another workflow: `module utkface: snakefile: ".../Snakefile" config: config["utkface"]`.
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")
# This file's folder. Not workflow.basedir: that is the *outer* workflow's folder when we are a module.
WORKFLOW_ROOT = workflow.current_basedir.get_path_or_uri(secret_free=False)
sys.path.insert(0, WORKFLOW_ROOT)
from workflow_scripts.configcheck import check_config, load_yaml

# our own file first, so that a YAML error in it names the file and line (Snakemake's message does not)
load_yaml(os.path.join(WORKFLOW_ROOT, "config", "config.yaml"))


configfile: os.path.join(WORKFLOW_ROOT, "config", "config.yaml")


# Name every wrong key in one line each, then let Snakemake fill the schema's defaults.
check_config(config, os.path.join(WORKFLOW_ROOT, "config", "schema.yaml"))
validate(config, "config/schema.yaml", set_default=True)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/external.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/use.smk"
include: "rules/claims.smk"


report: "report/workflow.rst"


rule all:
    default_target: True
    input:
        data_targets(),
        model_targets(),
        eval_targets(),
        rules.comparison.output.csv,
        rules.html_report.output,
        use_targets(),
        claims_targets(),


say_grid_cost()
