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
        n=lambda w: EXTERNAL[w.name]["n_images"],
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


use rule labels as external_labels with:
    input:
        get_external_dir,
    output:
        labels=EXT_LABELS,
        rejected=EXT_REJECTED,
        pixels=EXT_ARRAY,
    log:
        "logs/external/{name}_labels.log",
    benchmark:
        "benchmarks/external/{name}_labels.tsv"
    params:
        content=get_external_fingerprint,
