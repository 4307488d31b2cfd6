# The base model: GGUF, hub id or local path -> plain safetensors + tokenizer (models/base).
# Code: scripts/base.py on dragoman/lm/models.py.


rule base:
    input:
        code=code("scripts/base.py"),
    output:
        model=directory("models/base"),
        perf="reports/base.perf.json",
    log:
        "logs/base.log",
    conda:
        "../envs/dragoman.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        p=params_for("base"),
        hub=hub_pins("base.model"),
    script:
        "../scripts/base.py"
