# Using the trained models: predictions on a folder of photos (with an annotated gallery), and
# inference-only exports with a model card.


# the demo draws its photos into a folder of our own; a user's `predict.input` is only ever read
if config["predict"]["scenes"]:

    rule demo_scenes:
        output:
            directory(SCENES),
        log:
            "logs/demo_scenes.log",
        localrule: True
        shadow:
            SHADOW
        conda:
            ENV
        params:
            n=config["predict"]["scenes"],
            seed=config["seed"],
        shell:
            "python -m workflow_scripts.scenes"
            " --out {output:q}"
            " --n {params.n}"
            " --seed {params.seed}"
            " --log {log:q}"


rule predict:
    input:
        model=study(MODEL),
        photos=get_predict_photos(),
        gallery_template=GALLERY_TEMPLATE,
        style=STYLE_SHEET,  # included by the gallery's template
    output:
        csv=PREDICT_CSV,
        annotated=directory(PREDICT_ANNOTATED),
        gallery=PREDICT_GALLERY,
    log:
        "logs/predict/{model}_seed_{seed}.log",
    benchmark:
        "benchmarks/predict/{model}_seed_{seed}.tsv"
    wildcard_constraints:
        model="A|B",
        seed=r"\d+",
    shadow:
        SHADOW
    conda:
        ENV
    threads: 2
    params:
        interpolation=config["preprocess"]["interpolation"],
        batch=config["evaluate"]["batch_size"],
        content=get_predict_fingerprint(),
    shell:
        "python -m workflow_scripts.cli predict {input.photos:q}"
        " --model {input.model:q}"
        " --out {output.csv:q}"
        " --annotate {output.annotated:q}"
        " --gallery {output.gallery:q}"
        " --gallery-template {input.gallery_template:q}"
        " --interpolation {params.interpolation}"
        " --batch-size {params.batch}"
        " --log {log:q}"


rule export:
    input:
        model=study(MODEL),
        metrics=expand(study(METRICS), split="test", allow_missing=True),
        info=study(TRAIN_INFO),
        images=array_file("test"),
        splits=expand(SPLIT, split=SPLITS),
        template=MODEL_CARD_TEMPLATE,
    output:
        directory(EXPORT_DIR),
    log:
        "logs/export/{model}_seed_{seed}.log",
    benchmark:
        "benchmarks/export/{model}_seed_{seed}.tsv"
    wildcard_constraints:
        model="A|B",
        seed=r"\d+",
    shadow:
        SHADOW
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
    params:
        formats=" ".join(config["export"]["formats"]),
        n=config["export"]["parity_images"],
        card=get_card_facts,
    shell:
        "python -m workflow_scripts.cli export"
        " --model {input.model:q}"
        " --format {params.formats}"
        " --out {output:q}"
        " --parity-images {input.images:q}"
        " --parity-n {params.n}"
        " --card {params.card:q}"
        " --log {log:q}"
