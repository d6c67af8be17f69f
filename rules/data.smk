# Raw archive -> safe extraction -> labels with a reject list -> stratified splits -> uint8 arrays.


# All data steps run where Snakemake runs (the submit host on a cluster): the download needs internet,
# which compute nodes often lack, and the rest is short and I/O-bound.
localrules:
    download_archive,
    synthetic_archive,
    extract_archive,
    labels,
    splits,
    preprocess,


rule download_archive:
    output:
        "resources/{archive}",
    log:
        "logs/download_archive/{archive}.log",
    wildcard_constraints:
        archive=r"[^/]+\.(tar\.gz|tgz|tar|zip)",
    conda:
        ENV
    params:
        url=config["dataset"]["url"],
        md5=config["dataset"]["md5"] or "",
        retries=config["dataset"]["retries"],
        backoff=config["dataset"]["backoff_s"],
        timeout=config["dataset"]["timeout_s"],
    shell:
        "python -m workflow_scripts.download --url {params.url:q} --out {output:q} --md5={params.md5} --retries {params.retries} --backoff {params.backoff} --timeout {params.timeout} > {log:q} 2>&1"


rule synthetic_archive:
    output:
        SYNTHETIC_ARCHIVE,
    log:
        "logs/synthetic_archive.log",
    benchmark:
        "benchmarks/synthetic_archive.tsv"
    conda:
        ENV
    threads: 2
    params:
        n=config["synthetic"]["n_images"],
        seed=config["seed"],
        quirks="" if config["synthetic"]["quirks"] else "--no-quirks",
    shell:
        "python -m workflow_scripts.synthetic --out {output:q} --n {params.n} --seed {params.seed} {params.quirks} --workers {threads} > {log:q} 2>&1"


rule extract_archive:
    input:
        archive_path(),
    output:
        directory(f"{DATA}/extracted"),
    log:
        "logs/extract_archive.log",
    benchmark:
        "benchmarks/extract_archive.tsv"
    conda:
        ENV
    params:
        md5=config["dataset"]["md5"] or "",
    shell:
        "python -m workflow_scripts.extract --archive {input:q} --out {output:q} --md5={params.md5} > {log:q} 2>&1"


rule labels:
    input:
        images_dir(),
    output:
        labels=f"{DATA}/labels.csv",
        rejected=f"{DATA}/labels_rejected.csv",
    log:
        "logs/labels.log",
    benchmark:
        "benchmarks/labels.tsv"
    conda:
        ENV
    threads: 2
    params:
        min_age=config["labels"]["min_age"],
        max_age=config["labels"]["max_age"],
    shell:
        "python -m workflow_scripts.labels --images {input:q} --labels {output.labels:q} --rejected {output.rejected:q} --min-age {params.min_age} --max-age {params.max_age} --threads {threads} > {log:q} 2>&1"


rule splits:
    input:
        f"{DATA}/labels.csv",
    output:
        **{s: f"{DATA}/splits/{s}.csv" for s in SPLITS},
    log:
        "logs/splits.log",
    conda:
        ENV
    params:
        tv=config["split"]["train_val_size"],
        vf=config["split"]["val_fraction"],
        test=config["split"]["test_size"] or "",
        bins=AGE_BINS_ARG,
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.splits --labels {input:q} --out-train {output.train:q} --out-val {output.val:q} --out-test {output.test:q} --train-val-size {params.tv} --val-fraction {params.vf} --test-size={params.test} --age-bins {params.bins} --seed {params.seed} > {log:q} 2>&1"


rule preprocess:
    input:
        images=images_dir(),
        split=f"{DATA}/splits/{{split}}.csv",
    output:
        f"{DATA}/arrays/{{split}}_images.npy",
    log:
        "logs/preprocess/{split}.log",
    benchmark:
        "benchmarks/preprocess/{split}.tsv"
    conda:
        ENV
    threads: 2
    params:
        size=config["image_size"],
        interpolation=config["preprocess"]["interpolation"],
    shell:
        "python -m workflow_scripts.preprocess --images {input.images:q} --split {input.split:q} --out {output:q} --size {params.size} --interpolation {params.interpolation} --workers {threads} > {log:q} 2>&1"
