# Training of Model A and Model B: one job per model and seed, each holding one GPU.


rule vgg16_weights:
    output:
        VGG_WEIGHTS,
    log:
        "logs/vgg16_weights.log",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    params:
        url=redact_url(config["model_b"]["weights_url"]),  # see data.smk
        md5=config["model_b"]["weights_md5"] or "",
    shell:
        "python -m workflow_scripts.download"
        " --url {params.url:q}"
        " --out {output:q}"
        " --md5={params.md5}"
        " --local-key model_b.weights"
        " --log {log:q}"


rule train:
    input:
        train_images=get_train_images,
        val_images=array_file("val"),
        train_split=get_train_split,
        val_split=split_file("val"),
        weights=get_vgg_weights,
    output:
        model=MODEL,
        history=HISTORY,
        info=TRAIN_INFO,
    log:
        main=TRAIN_LOG,
        tensorboard=directory(TENSORBOARD_DIR),
    benchmark:
        TRAIN_BENCHMARK
    wildcard_constraints:
        model="A|B",
        variant="|".join(GRID.variants),
        seed=r"\d+",
    shadow:
        SHADOW
    conda:
        TRAIN_ENV
    threads: get_train_resource("threads")
    resources:
        gpu=get_train_resource("gpu"),
        mem_mb=get_train_resource("mem_mb"),
        runtime=get_train_resource("runtime"),
    params:
        config=get_train_config,
        resume=RESUME_DIR,
        tensorboard=get_tensorboard,
    shell:
        "python -m workflow_scripts.train"
        " --model {wildcards.model}"
        " --seed {wildcards.seed}"
        " --config {params.config:q}"
        " --train-images {input.train_images:q}"
        " --val-images {input.val_images:q}"
        " --train-split {input.train_split:q}"
        " --val-split {input.val_split:q}"
        " --weights={input.weights:q}"
        " --model-out {output.model:q}"
        " --history {output.history:q}"
        " --info {output.info:q}"
        " --resume-dir {params.resume:q}"
        " --threads {threads}"
        " --name {wildcards.model}/{wildcards.variant}/seed_{wildcards.seed}"
        " {params.tensorboard}"
        " --tensorboard-dir {log.tensorboard:q}"
        " --log {log.main:q}"
