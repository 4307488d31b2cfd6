# Data phase: raw corpora -> ingested -> cleaned -> splits, and the tokenizer's fertility report.
# Code: scripts/{ingest,clean,splits,fertility}.py on dragoman/data/.


rule ingest:
    input:
        raw=source_inputs(),
        code=code("scripts/ingest.py"),
    output:
        records="data/ingested/records.jsonl",
        report="reports/ingest.json",
        perf="reports/ingest.perf.json",
    log:
        "logs/ingest.log",
    conda:
        "../envs/dragoman.yaml"
    threads: 1
    params:
        p=params_for("sources", "ingest"),
        hub=hub_pins("sources"),
    script:
        "../scripts/ingest.py"


rule clean:
    input:
        records="data/ingested/records.jsonl",
        code=code("scripts/clean.py"),
    output:
        clean="data/clean/records.jsonl",
        dropped="data/clean/dropped.jsonl",
        report="reports/clean.json",
        perf="reports/clean.perf.json",
    log:
        "logs/clean.log",
    conda:
        "../envs/dragoman.yaml"
    threads: 1
    params:
        p=params_for("clean", "languages"),
    script:
        "../scripts/clean.py"


rule splits:
    input:
        clean="data/clean/records.jsonl",
        code=code("scripts/splits.py"),
    output:
        train="data/splits/train.jsonl",
        dev="data/splits/dev.jsonl",
        test="data/splits/test.jsonl",
        dropped="data/splits/dropped.jsonl",
        report="reports/splits.json",
        perf="reports/splits.perf.json",
    log:
        "logs/splits.log",
    conda:
        "../envs/dragoman.yaml"
    threads: 1
    params:
        p=params_for("splits", "sources"),
    script:
        "../scripts/splits.py"


rule fertility:
    input:
        model="models/base",
        dev="data/splits/dev.jsonl",
        code=code("scripts/fertility.py"),
    output:
        report="reports/fertility.json",
        perf="reports/fertility.perf.json",
    log:
        "logs/fertility.log",
    conda:
        "../envs/dragoman.yaml"
    threads: 1
    params:
        p=params_for("fertility", "languages"),
    script:
        "../scripts/fertility.py"
