# Figures, the comparison table and the HTML report. Cheap (no TensorFlow): run on the submit host.
from workflow_scripts.download import redact_urls

COMPARISON_TEMPLATE = os.path.join(WORKFLOW_ROOT, "report", "comparison.html.j2")


rule learning_curves:
    input:
        expand(study(HISTORY), seed=SEED0, allow_missing=True),
    output:
        png=report(
            FIGURE_PNG.format(figure="learning_curves_{model}"),
            caption="../report/captions/learning_curves.rst",
            category="Learning curves",
            labels={"model": "{model}", "figure": "learning curves"},
        ),
        svg=FIGURE_SVG.format(figure="learning_curves_{model}"),
    log:
        "logs/figures/learning_curves_{model}.log",
    wildcard_constraints:
        model="A|B",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    shell:
        "python -m workflow_scripts.figures curves"
        " --history {input:q}"
        " --model {wildcards.model}"
        " --png {output.png:q}"
        " --svg {output.svg:q}"
        " --log {log:q}"


rule extra_figure:
    input:
        predictions=per_run(PREDICTIONS, seed=SEED0, split="test"),
        metrics=per_run(METRICS, seed=SEED0, split="test"),
        images=array_file("test"),
    output:
        png=report(
            FIGURE_PNG,
            caption="../report/captions/extra.rst",
            category="Beyond the study",
            labels={"figure": "{figure}"},
        ),
        svg=FIGURE_SVG,
    log:
        "logs/figures/{figure}.log",
    benchmark:
        "benchmarks/figures/{figure}.tsv"
    wildcard_constraints:
        figure="|".join(extra_figures(MODELS)),
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    params:
        title=lambda w: FIGURE_NAMES[w.figure],
        models=MODELS_ARG,
        n_faces=config["report"]["n_faces"],
    shell:
        "python -m workflow_scripts.figures extra"
        " --figure {wildcards.figure}"
        " --models {params.models}"
        " --predictions {input.predictions:q}"
        " --metrics {input.metrics:q}"
        " --test-images {input.images:q}"
        " --n-faces {params.n_faces}"
        " --png {output.png:q}"
        " --svg {output.svg:q}"
        " --log {log:q}"


rule comparison:
    input:
        info=per_run(TRAIN_INFO),
        val=per_run(METRICS, split="val"),
        test=per_run(METRICS, split="test"),
        predictions=per_run(PREDICTIONS, seed=SEED0, split="test"),
        val_predictions=per_run(PREDICTIONS, split="val"),
        test_predictions=per_run(PREDICTIONS, split="test"),
        published=PUBLISHED,
        template=COMPARISON_TEMPLATE,
    output:
        csv=report(
            COMPARISON_CSV,
            caption="../report/captions/comparison.rst",
            category="Comparison",
            labels={"table": "comparison (CSV)"},
        ),
        html=report(
            COMPARISON_HTML,
            caption="../report/captions/comparison.rst",
            category="Comparison",
            labels={"table": "comparison"},
        ),
        difference=MODEL_DIFFERENCE,
    log:
        "logs/comparison.log",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    params:
        bootstrap=config["evaluate"]["bootstrap"],
        confidence=config["evaluate"]["confidence"],
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.comparison"
        " --info {input.info:q}"
        " --val-metrics {input.val:q}"
        " --test-metrics {input.test:q}"
        " --published {input.published:q}"
        " --predictions {input.predictions:q}"
        " --val-predictions {input.val_predictions:q}"
        " --test-predictions {input.test_predictions:q}"
        " --bootstrap {params.bootstrap}"
        " --confidence {params.confidence}"
        " --seed {params.seed}"
        " --csv {output.csv:q}"
        " --html {output.html:q}"
        " --template {input.template:q}"
        " --difference {output.difference:q}"
        " --log {log:q}"


rule html_report:
    input:
        comparison=rules.comparison.output.csv,
        info=per_run(TRAIN_INFO),
        histories=expand(study(HISTORY), model=MODELS, seed=SEED0),
        metrics=expand(
            study(METRICS), model=MODELS, seed=SEED0, split=["test", *EXTERNAL_SPLITS]
        ),
        difference=rules.comparison.output.difference,
        galleries=(
            expand(PREDICT_GALLERY, model=MODELS, seed=SEED0) if PREDICTING else []
        ),
        figures=expand(FIGURE_PNG, figure=FIGURE_NAMES),
        labels=rules.labels.output.labels,
        rejected=rules.labels.output.rejected,
        splits=expand(SPLIT, split=SPLITS),
        template=REPORT_TEMPLATE,
        table_template=COMPARISON_TEMPLATE,  # included by the report's template
        style=STYLE_SHEET,
        claims_table=claims_report_input("table"),
        claims_figures=claims_report_input("figures"),
        claims_templates=claims_report_input("templates"),  # included by the template
    output:
        report(
            REPORT_HTML,
            caption="../report/captions/report.rst",
            category="Report",
            labels={"report": "HTML report"},
        ),
    log:
        "logs/html_report.log",
    localrule: True
    shadow:
        SHADOW
    conda:
        ENV
    params:
        inputs=named_inputs,
        # (params are stored in .snakemake/metadata: no password of a URL)
        config=json.dumps(redact_urls(config), sort_keys=True),
        synthetic="--synthetic" if config["synthetic"]["enabled"] else "",
        claims=claims_report_args,
        confidence=config["evaluate"]["confidence"],
    shell:
        "python -m workflow_scripts.report"
        " --inputs {params.inputs:q}"
        " --config {params.config:q}"
        " {params.synthetic}"
        " {params.claims}"
        " --confidence {params.confidence}"
        " --out {output:q}"
        " --log {log:q}"
