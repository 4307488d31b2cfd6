rule base:
    input:
        code=code("scripts/base.py"),
    output:
        model=directory("models/base"),
        perf="reports/base.perf.json",
    params:
        p=params_for("base"),
    log:
        "logs/base.log",
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../scripts/base.py"
