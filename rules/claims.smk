# The study's claims, tested: each claim's variant and the data-size curve trained by the `train` and
# `evaluate` rules (the variant a wildcard), then one table, two figures and a page. `snakemake claims`.


rule train_subset:
    input:
        labels=rules.labels.output.labels,
        train=split_file("train"),
        val=split_file("val"),
        test=split_file("test"),
    output:
        SUBSET_SPLIT,
    log:
        "logs/claims/train_n{size}.log",
    wildcard_constraints:
        size=r"\d+",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    params:
        bins=AGE_BINS_ARG,
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.subsets"
        " --labels {input.labels:q}"
        " --train-split {input.train:q}"
        " --val-split {input.val:q}"
        " --test-split {input.test:q}"
        " --size {wildcards.size}"
        " --age-bins {params.bins}"
        " --seed {params.seed}"
        " --out {output:q}"
        " --log {log:q}"


use rule preprocess as subset_array with:
    input:
        labels=rules.labels.output.labels,
        pixels=rules.labels.output.pixels,
        split=SUBSET_SPLIT,
    output:
        SUBSET_ARRAY,
    log:
        "logs/preprocess/train_n{size}.log",
    benchmark:
        "benchmarks/preprocess/train_n{size}.tsv"


rule claims_table:
    input:
        predictions=per_grid_run(PREDICTIONS, split="test"),
        info=per_grid_run(TRAIN_INFO),
        history=per_grid_run(HISTORY),
    output:
        csv=report(
            CLAIMS_CSV,
            caption="../report/captions/claims.rst",
            category="The study's claims, tested",
            labels={"table": "claims (CSV)"},
        ),
        data_size=DATA_SIZE_CSV,
    log:
        "logs/claims/claims_table.log",
    benchmark:
        "benchmarks/claims/claims_table.tsv"
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    params:
        grid=json.dumps(GRID.spec()),
        runs=" ".join(f"{m}/{v}/{s}" for m, v, s in GRID.runs()),
        bootstrap=config["claims"]["bootstrap"],
        confidence=config["evaluate"]["confidence"],
        seed=config["seed"],
        b_note=get_b_note(),
    shell:
        "python -m workflow_scripts.claims_table"
        " --grid {params.grid:q}"
        " --runs {params.runs}"
        " --predictions {input.predictions:q}"
        " --info {input.info:q}"
        " --history {input.history:q}"
        " --bootstrap {params.bootstrap}"
        " --confidence {params.confidence}"
        " --seed {params.seed}"
        " --b-note {params.b_note:q}"
        " --csv {output.csv:q}"
        " --data-size {output.data_size:q}"
        " --log {log:q}"


rule claims_forest:
    input:
        rules.claims_table.output.csv,
    output:
        png=report(
            CLAIMS_FIGURE_PNG.format(figure="forest"),
            caption="../report/captions/claims_forest.rst",
            category="The study's claims, tested",
            labels={"figure": "forest plot"},
        ),
        svg=CLAIMS_FIGURE_SVG.format(figure="forest"),
    log:
        "logs/claims/forest.log",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    shell:
        "python -m workflow_scripts.claims_figures forest"
        " --claims {input:q}"
        " --png {output.png:q}"
        " --svg {output.svg:q}"
        " --log {log:q}"


rule claims_data_size:
    input:
        rules.claims_table.output.data_size,
    output:
        png=report(
            CLAIMS_FIGURE_PNG.format(figure="data_size"),
            caption="../report/captions/claims_data_size.rst",
            category="The study's claims, tested",
            labels={"figure": "data-size curve"},
        ),
        svg=CLAIMS_FIGURE_SVG.format(figure="data_size"),
    log:
        "logs/claims/data_size.log",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    params:
        study_size=GRID.n_train,
    shell:
        "python -m workflow_scripts.claims_figures data_size"
        " --data-size {input:q}"
        " --study-size {params.study_size}"
        " --png {output.png:q}"
        " --svg {output.svg:q}"
        " --log {log:q}"


rule claims_page:
    input:
        claims=rules.claims_table.output.csv,
        figures=claims_figures(),
        template=CLAIMS_TEMPLATE,
        parts=CLAIMS_TEMPLATE_PARTS,  # included by the page's template
        style=STYLE_SHEET,
    output:
        report(
            CLAIMS_HTML,
            caption="../report/captions/claims.rst",
            category="The study's claims, tested",
            labels={"table": "claims"},
        ),
    log:
        "logs/claims/claims_page.log",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    params:
        grid=json.dumps(GRID.spec()),
        confidence=config["evaluate"]["confidence"],
        synthetic="--synthetic" if config["synthetic"]["enabled"] else "",
    shell:
        "python -m workflow_scripts.claims_page"
        " --claims {input.claims:q}"
        " --figures {input.figures:q}"
        " --grid {params.grid:q}"
        " --confidence {params.confidence}"
        " {params.synthetic}"
        " --template {input.template:q}"
        " --out {output:q}"
        " --log {log:q}"


rule claims:
    input:
        rules.claims_table.output,
        rules.claims_page.output,
        claims_figures(),
    localrule: True
    shadow:
        SHADOW
