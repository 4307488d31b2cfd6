# Translate-and-tune (Hala, arXiv 2509.14008): teacher -> FP8 teacher -> bilingual pairs -> translator ->
# translated instruction corpus, which joins the SFT mixture (rules/train.smk).
# Code: scripts/{teacher,teacher_fp8,pairs,translator,instructions}.py on dragoman/lm/ and dragoman/train/.


rule teacher:
    input:
        model="models/base",
        train="data/splits/train.jsonl",
        dev="data/splits/dev.jsonl",
        code=code("scripts/teacher.py"),
    output:
        model=directory("models/teacher"),
        report="reports/teacher.json",
        live=directory("reports/teacher.live"),
        perf="reports/teacher.perf.json",
    log:
        "logs/teacher.log",
    conda:
        "../envs/dragoman.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=10000,
    params:
        p=params_for("teacher", "languages"),
        hub=hub_pins("teacher.model"),
    script:
        "../scripts/teacher.py"


rule teacher_fp8:
    input:
        model="models/teacher",
        dev="data/splits/dev.jsonl",
        code=code("scripts/teacher_fp8.py"),
    output:
        model=directory("models/teacher_fp8"),
        report="reports/teacher_fp8.json",
        hyps="reports/teacher_fp8.hyps.jsonl",
        perf="reports/teacher_fp8.perf.json",
    log:
        "logs/teacher_fp8.log",
    conda:
        "../envs/dragoman.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        p=params_for("teacher_fp8", "teacher.prompt", "languages"),
    script:
        "../scripts/teacher_fp8.py"


rule pairs:
    input:
        model="models/teacher_fp8",
        train="data/splits/train.jsonl",
        code=code("scripts/pairs.py"),
    output:
        tuples="data/pairs/tuples.jsonl",
        accepted="data/pairs/accepted.jsonl",
        report="reports/pairs.json",
        perf="reports/pairs.perf.json",
    log:
        "logs/pairs.log",
    conda:
        "../envs/dragoman.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        p=params_for("pairs", "teacher.prompt", "languages"),
        hub=hub_pins("pairs.judge.model"),
    script:
        "../scripts/pairs.py"


rule translator:
    input:
        model="models/base",
        tuples="data/pairs/tuples.jsonl",
        accepted="data/pairs/accepted.jsonl",
        dev="data/splits/dev.jsonl",
        test="data/splits/test.jsonl",
        code=code("scripts/translator.py"),
    output:
        model=directory("models/translator"),
        report="reports/translator.json",
        hyps="reports/translator.hyps.jsonl",
        live=directory("reports/translator.live"),
        perf="reports/translator.perf.json",
    log:
        "logs/translator.log",
    conda:
        "../envs/dragoman.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=10000,
    params:
        p=params_for("translator", "languages"),
        hub=hub_pins("translator.model"),
    script:
        "../scripts/translator.py"


rule instructions:
    input:
        model="models/translator",
        train="data/splits/train.jsonl",
        code=code("scripts/instructions.py"),
    output:
        corpus="data/instructions/train.jsonl",
        report="reports/instructions.json",
        perf="reports/instructions.perf.json",
    log:
        "logs/instructions.log",
    conda:
        "../envs/dragoman.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        p=params_for("instructions", "translator.prompt", "languages"),
    script:
        "../scripts/instructions.py"
