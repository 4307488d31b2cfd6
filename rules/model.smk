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
    script:
        "../scripts/base.py"
