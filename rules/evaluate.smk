# Merge, evaluate, analyse, document: models/merged, results/metrics.json, reports/layers.json, the model card,
# and the optional lm-evaluation-harness run (reports/benchmarks.json).
# Code: scripts/{merge,metrics,layers,card,benchmarks}.py on dragoman/lm/ (merging, evaluate, translation, harness).


rule merge:
    input:
        base="models/base",
        model=f"models/{config['merge']['model']}",
        code=code("scripts/merge.py"),
    output:
        model=directory("models/merged"),
        report="reports/merge.json",
        perf="reports/merge.perf.json",
    log:
        "logs/merge.log",
    conda:
        "../envs/dragoman.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        p=params_for("merge"),
    script:
        "../scripts/merge.py"


rule metrics:
    input:
        **lineage_models(config["eval"]["models"]),
        test="data/splits/test.jsonl",
        code=code("scripts/metrics.py"),
    output:
        metrics="results/metrics.json",
        hyps="results/hyps.jsonl",
        chart="results/metrics.png",
        headline="results/headline.csv",
        perf="reports/metrics.perf.json",
    log:
        "logs/metrics.log",
    conda:
        "../envs/dragoman.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        p=params_for(
            "eval",
            "sft.classification_tasks",
            "teacher.prompt",
            "languages",
            *provenance_keys(),
        ),
        hub=hub_pins(*HUB_KEYS),
    script:
        "../scripts/metrics.py"


rule layers:
    input:
        **lineage_models(
            sorted({m for pair in config["layers"]["pairs"] for m in pair})
        ),
        code=code("scripts/layers.py"),
    output:
        report="reports/layers.json",
        heatmap="reports/layers.png",
        perf="reports/layers.perf.json",
    log:
        "logs/layers.log",
    conda:
        "../envs/dragoman.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        p=params_for("layers"),
    script:
        "../scripts/layers.py"


rule card:
    input:
        **lineage_reports(),
        metrics="results/metrics.json",
        merge="reports/merge.json",
        splits="reports/splits.json",
        model="models/merged",
        code=code("scripts/card.py"),
    output:
        card="results/model_card.md",
        release=directory("models/release"),
    log:
        "logs/card.log",
    conda:
        "../envs/dragoman.yaml"
    threads: 1
    params:
        p=params_for("card", "languages", "sources", "base.model", "merge"),
        hub=hub_pins("base.model"),
    script:
        "../scripts/card.py"


rule benchmarks:
    input:
        **lineage_models(config["benchmarks"]["models"]),
        test="data/splits/test.jsonl",
        code=code("scripts/benchmarks.py"),
    output:
        report="reports/benchmarks.json",
        perf="reports/benchmarks.perf.json",
    log:
        "logs/benchmarks.log",
    conda:
        "../envs/dragoman.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        p=params_for("benchmarks"),
    script:
        "../scripts/benchmarks.py"
