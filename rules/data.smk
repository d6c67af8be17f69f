# Raw archive -> safe extraction -> labels with a reject list (and every accepted image decoded, once)
# -> stratified splits -> each split's uint8 array, gathered from the decoded pixels.

# All data steps run where Snakemake runs (the submit host on a cluster): the download needs internet,
# which compute nodes often lack, and the rest is short and I/O-bound.
from workflow_scripts.download import SECRET_URLS_ENV, redact_url, secret_urls

# A password in a download URL stays out of the rules' params and commands: .snakemake/metadata keeps
# both, and Snakemake prints the commands. The rules pass the URL with *** for the password; their jobs,
# local ones that inherit Snakemake's environment, find the whole URL in this variable.
os.environ[SECRET_URLS_ENV] = secret_urls(
    [config["dataset"]["url"], config["model_b"]["weights_url"]]
)


rule download_archive:
    output:
        DOWNLOADED_ARCHIVE,
    log:
        "logs/download_archive.log",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    params:
        url=redact_url(config["dataset"]["url"]),
        md5=config["dataset"]["md5"] or "",
        retries=config["dataset"]["retries"],
        backoff=config["dataset"]["backoff_s"],
        timeout=config["dataset"]["timeout_s"],
        give_up=config["dataset"]["give_up_s"],
    shell:
        "python -m workflow_scripts.download"
        " --url {params.url:q}"
        " --out {output:q}"
        " --md5={params.md5}"
        " --retries {params.retries}"
        " --backoff {params.backoff}"
        " --timeout {params.timeout}"
        " --give-up {params.give_up}"
        " --log {log:q}"


rule synthetic_archive:
    output:
        SYNTHETIC_ARCHIVE,
    log:
        "logs/synthetic_archive.log",
    benchmark:
        "benchmarks/synthetic_archive.tsv"
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    threads: config["preprocess"]["threads"]
    params:
        n=config["synthetic"]["n_images"],
        seed=config["seed"],
        quirks="" if config["synthetic"]["quirks"] else "--no-quirks",
    shell:
        "python -m workflow_scripts.synthetic"
        " --out {output:q}"
        " --n {params.n}"
        " --seed {params.seed}"
        " {params.quirks}"
        " --workers {threads}"
        " --log {log:q}"


rule extract_archive:
    input:
        get_archive(),
    output:
        directory(EXTRACTED),
    log:
        "logs/extract_archive.log",
    benchmark:
        "benchmarks/extract_archive.tsv"
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    params:
        md5=config["dataset"]["md5"] or "",
        key=get_archive_key(),
        max_gb=config["dataset"]["extract_max_gb"],
        max_members=config["dataset"]["extract_max_members"],
    shell:
        "python -m workflow_scripts.extract"
        " --archive {input:q}"
        " --out {output:q}"
        " --md5={params.md5}"
        " --key {params.key}"
        " --max-gb {params.max_gb}"
        " --max-members {params.max_members}"
        " --log {log:q}"


rule labels:
    input:
        get_images_dir(),
    output:
        labels=LABELS,
        rejected=REJECTED,
        pixels=PIXELS,
    log:
        "logs/labels.log",
    benchmark:
        "benchmarks/labels.tsv"
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    threads: config["preprocess"]["threads"]
    params:
        min_age=config["labels"]["min_age"],
        max_age=config["labels"]["max_age"],
        content=get_images_fingerprint(),
        size=config["image_size"],
        interpolation=config["preprocess"]["interpolation"],
    shell:
        "python -m workflow_scripts.labels"
        " --images {input:q}"
        " --labels {output.labels:q}"
        " --rejected {output.rejected:q}"
        " --pixels {output.pixels:q}"
        " --size {params.size}"
        " --interpolation {params.interpolation}"
        " --min-age {params.min_age}"
        " --max-age {params.max_age}"
        " --threads {threads}"
        " --log {log:q}"


rule splits:
    input:
        rules.labels.output.labels,
    output:
        **{s: split_file(s) for s in SPLITS},
    log:
        "logs/splits.log",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    params:
        train_val=config["split"]["train_val_size"],
        train_val_fraction=config["split"]["train_val_fraction"] or "",
        val_fraction=config["split"]["val_fraction"],
        test=config["split"]["test_size"] or "",
        bins=AGE_BINS_ARG,
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.splits"
        " --labels {input:q}"
        " --out-train {output.train:q}"
        " --out-val {output.val:q}"
        " --out-test {output.test:q}"
        " --train-val-size {params.train_val}"
        " --train-val-fraction={params.train_val_fraction}"
        " --val-fraction {params.val_fraction}"
        " --test-size={params.test}"
        " --age-bins {params.bins}"
        " --seed {params.seed}"
        " --log {log:q}"


rule preprocess:
    input:
        labels=rules.labels.output.labels,
        pixels=rules.labels.output.pixels,
        split=SPLIT,
    output:
        ARRAY,
    log:
        "logs/preprocess/{split}.log",
    benchmark:
        "benchmarks/preprocess/{split}.tsv"
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    shell:
        "python -m workflow_scripts.preprocess"
        " --labels {input.labels:q}"
        " --pixels {input.pixels:q}"
        " --split {input.split:q}"
        " --out {output:q}"
        " --log {log:q}"
