# Adaptation: continual pretraining, SFT, and the QLoRA branch (resources: gpu=1).
# Code: scripts/{cpt,sft,qlora}.py, one file per method, on dragoman/train/ (recipe.py: the shared skeleton).


rule cpt:
    input:
        model="models/base",
        train="data/splits/train.jsonl",
        dev="data/splits/dev.jsonl",
        code=code("scripts/cpt.py"),
    output:
        model=directory("models/cpt"),
        report="reports/cpt.json",
        live=directory("reports/cpt.live"),
        perf="reports/cpt.perf.json",
    log:
        "logs/cpt.log",
    conda:
        "../envs/dragoman.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=10000,
    params:
        p=params_for("cpt", "languages"),
    script:
        "../scripts/cpt.py"


rule sft:
    input:
        **translated_corpus(),
        model=f"models/{config['sft']['init']}",
        train="data/splits/train.jsonl",
        dev="data/splits/dev.jsonl",
        code=code("scripts/sft.py"),
    output:
        model=directory("models/sft"),
        report="reports/sft.json",
        live=directory("reports/sft.live"),
        perf="reports/sft.perf.json",
    log:
        "logs/sft.log",
    conda:
        "../envs/dragoman.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=10000,
    params:
        p=params_for("sft", "languages"),
    script:
        "../scripts/sft.py"


rule qlora:
    input:
        **translated_corpus(),
        model=f"models/{config['qlora']['init']}",
        train="data/splits/train.jsonl",
        dev="data/splits/dev.jsonl",
        code=code("scripts/qlora.py"),
    output:
        model=directory("models/qlora"),
        report="reports/qlora.json",
        live=directory("reports/qlora.live"),
        perf="reports/qlora.perf.json",
    log:
        "logs/qlora.log",
    conda:
        "../envs/dragoman.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        p=params_for(
            "qlora",
            "sft.mixture",
            "sft.translate_prompt",
            "sft.classification_tasks",
            "languages",
        ),
    script:
        "../scripts/qlora.py"
