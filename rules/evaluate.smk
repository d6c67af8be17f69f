# Evaluation of each trained model on the validation and the unseen test split.


rule evaluate:
    input:
        model=rules.train.output.model,
        images=get_eval_array,
        split=get_eval_labels,
        train_split=get_train_split,
    output:
        predictions=PREDICTIONS,
        metrics=METRICS,
    log:
        "logs/evaluate/{model}_{variant}_seed_{seed}_{split}.log",
    benchmark:
        "benchmarks/evaluate/{model}_{variant}_seed_{seed}_{split}.tsv"
    wildcard_constraints:
        model="A|B",
        variant="|".join(GRID.variants),
        seed=r"\d+",
        split=r"val|test|external_[a-z0-9_]+",
    shadow:
        SHADOW
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
    params:
        bins=AGE_BINS_ARG,
        batch=config["evaluate"]["batch_size"],
        bootstrap=config["evaluate"]["bootstrap"],
        confidence=config["evaluate"]["confidence"],
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.evaluate"
        " --model {input.model:q}"
        " --images {input.images:q}"
        " --split {input.split:q}"
        " --train-split {input.train_split:q}"
        " --age-bins {params.bins}"
        " --batch-size {params.batch}"
        " --bootstrap {params.bootstrap}"
        " --confidence {params.confidence}"
        " --seed {params.seed}"
        " --tag {wildcards.model} {wildcards.seed} {wildcards.split} {wildcards.variant}"
        " --predictions {output.predictions:q}"
        " --metrics {output.metrics:q}"
        " --log {log:q}"
