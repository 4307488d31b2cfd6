# dragoman workflow: the only hand-written definition of the DAG. dvc.yaml is generated from it
# (`make dvc.yaml`); a test fails when the committed dvc.yaml is stale.
#   snakemake --cores all            # default target: rule all
#   snakemake -n                     # dry run: what would run and why
from snakemake.utils import min_version

min_version("9.27")


configfile: "params.yaml"


include: "rules/common.smk"


rule all:
    default_target: True
    input:
        default_targets(),


include: "rules/model.smk"
include: "rules/data.smk"
include: "rules/train.smk"
