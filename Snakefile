# dragoman workflow: the only hand-written definition of the DAG. dvc.yaml is generated from it
# (`make dvc.yaml`); a test fails when the committed dvc.yaml is stale.
#   snakemake --cores all            # default target: rule all
#   snakemake -n                     # dry run: what would run and why
from snakemake.utils import min_version

min_version("9.27")


configfile: "params.yaml"


include: "rules/common.smk"


# hub inputs pinned as params.yaml names them, or no job starts (a dry run skips this: it only plans)
onstart:
    pin.check(config, HUB_LOCK)


# Snakemake and DVC agree: after a successful run, record every stage's deps, params and outputs in dvc.lock
# (hashing the outputs, rerunning nothing), so `dvc status` is clean and `dvc repro` has nothing to do.
onsuccess:
    shell(dvc_commit_command())


rule all:
    default_target: True
    input:
        default_targets(),


include: "rules/model.smk"
include: "rules/data.smk"
include: "rules/translate.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
