# Other test sets (`evaluate.external`): a folder of the user's, or a synthetic set drawn through another
# camera; labelled and decoded into one array (the labels step keeps the pixels, row i = labels row i),
# then evaluated by the `evaluate` rule.


rule external_synthetic:
    output:
        directory(EXT_SYNTHETIC),
    log:
        "logs/external/{name}_synthetic.log",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    threads: config["preprocess"]["threads"]
    params:
        n=lambda w: EXTERNAL[w.name].get("n_images") or 300,
        style=lambda w: EXTERNAL[w.name]["synthetic_style"],
        seed=config["seed"] + 1,
    shell:
        "python -m workflow_scripts.synthetic"
        " --folder"
        " --out {output:q}"
        " --n {params.n}"
        " --seed {params.seed}"
        " --style {params.style}"
        " --no-quirks"
        " --workers {threads}"
        " --log {log:q}"


rule external_labels:
    input:
        get_external_dir,
    output:
        labels=EXT_LABELS,
        rejected=EXT_REJECTED,
        pixels=EXT_ARRAY,
    log:
        "logs/external/{name}_labels.log",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    threads: config["preprocess"]["threads"]
    params:
        min_age=config["labels"]["min_age"],
        max_age=config["labels"]["max_age"],
        content=get_external_fingerprint,
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
