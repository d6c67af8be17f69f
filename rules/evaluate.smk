# Evaluation of each trained model on the validation and the unseen test split.


rule evaluate:
    input:
        model=f"{MODEL_DIR}/model.keras",
        images=lambda w: array_file(w.split),
        split=lambda w: split_file(w.split),
        train_split=split_file("train"),
    output:
        predictions=f"{EVAL_DIR}/predictions.csv",
        metrics=f"{EVAL_DIR}/metrics.json",
    log:
        "logs/evaluate/{model}_seed_{seed}_{split}.log",
    benchmark:
        "benchmarks/evaluate/{model}_seed_{seed}_{split}.tsv"
    wildcard_constraints:
        model="A|B",
        seed=r"\d+",
        split="val|test",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
    params:
        bins=AGE_BINS_ARG,
        batch=config["evaluate"]["batch_size"],
    shell:
        "python -m workflow_scripts.evaluate --model {input.model:q} --images {input.images:q} --split {input.split:q} --train-split {input.train_split:q} --age-bins {params.bins} --batch-size {params.batch} --predictions {output.predictions:q} --metrics {output.metrics:q} > {log:q} 2>&1"
