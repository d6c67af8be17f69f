# Figures, the comparison table and the HTML report. Cheap (no TensorFlow): run on the submit host.


localrules:
    learning_curves,
    extra_figures,
    comparison,
    html_report,


rule learning_curves:
    input:
        f"results/models/{{model}}/seed_{SEEDS[0]}/history.csv",
    output:
        png=report(
            "results/figures/learning_curves_{model}.png",
            caption="../report/captions/learning_curves.rst",
            category="Learning curves",
            labels={"model": "{model}", "figure": "learning curves"},
        ),
        svg="results/figures/learning_curves_{model}.svg",
    log:
        "logs/figures/learning_curves_{model}.log",
    wildcard_constraints:
        model="A|B",
    conda:
        ENV
    shell:
        "python -m workflow_scripts.figures curves --history {input:q} --model {wildcards.model} --png {output.png:q} --svg {output.svg:q} > {log:q} 2>&1"


rule extra_figures:
    input:
        predictions=expand(
            f"{EVAL_DIR}/predictions.csv", model=MODELS, seed=SEEDS[0], split="test"
        ),
        metrics=expand(
            f"{EVAL_DIR}/metrics.json", model=MODELS, seed=SEEDS[0], split="test"
        ),
        images=array_file("test"),
    output:
        **{
            f: report(
                f"results/figures/{f}.png",
                caption="../report/captions/extra.rst",
                category="Beyond the study",
                labels={"figure": f.replace("_", " ")},
            )
            for f in EXTRA_FIGURES
        },
        svg=expand("results/figures/{figure}.svg", figure=EXTRA_FIGURES),
    log:
        "logs/figures/extra.log",
    benchmark:
        "benchmarks/figures_extra.tsv"
    conda:
        ENV
    params:
        models=MODELS_ARG,
        n_faces=config["report"]["n_faces"],
    shell:
        "python -m workflow_scripts.figures extra --models {params.models} --predictions {input.predictions:q} --metrics {input.metrics:q} --test-images {input.images:q} --n-faces {params.n_faces} --outdir results/figures > {log:q} 2>&1"


rule comparison:
    input:
        eval_targets(),
        expand(f"{MODEL_DIR}/train_info.json", model=MODELS, seed=SEEDS),
        published=PUBLISHED,
    output:
        csv=report(
            "results/comparison.csv",
            caption="../report/captions/comparison.rst",
            category="Comparison",
            labels={"table": "comparison (CSV)"},
        ),
        html=report(
            "results/comparison.html",
            caption="../report/captions/comparison.rst",
            category="Comparison",
            labels={"table": "comparison"},
        ),
    log:
        "logs/comparison.log",
    conda:
        ENV
    params:
        models=MODELS_ARG,
        seeds=SEEDS_ARG,
    shell:
        "python -m workflow_scripts.report table --models {params.models} --seeds {params.seeds} --published {input.published:q} --csv {output.csv:q} --html {output.html:q} > {log:q} 2>&1"


rule html_report:
    input:
        "results/comparison.csv",
        expand("results/figures/learning_curves_{model}.png", model=MODELS),
        expand("results/figures/{figure}.png", figure=EXTRA_FIGURES),
        "results/data/labels_rejected.csv",
        published=PUBLISHED,
        template=os.path.join(workflow.basedir, "report", "report.html.j2"),
    output:
        report(
            "results/report/index.html",
            caption="../report/captions/report.rst",
            category="Report",
            labels={"report": "HTML report"},
        ),
    log:
        "logs/html_report.log",
    conda:
        ENV
    params:
        models=MODELS_ARG,
        seeds=SEEDS_ARG,
        config=json.dumps(config, sort_keys=True),
        commit=git_commit(),
        synthetic=(
            "--synthetic"
            if config["dataset"]["local_archive"] == SYNTHETIC_ARCHIVE
            else ""
        ),
    shell:
        "python -m workflow_scripts.report html --models {params.models} --seeds {params.seeds} --published {input.published:q} --config {params.config:q} --figures results/figures --template {input.template:q} --commit {params.commit:q} {params.synthetic} --out {output:q} > {log:q} 2>&1"
