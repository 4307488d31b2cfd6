"""dragoman: a reproducible, data-versioned build system that adapts an open LLM to a low-resource language.

Shared code for the stage scripts in scripts/. Stages import only what they need, and each module a
stage imports is a declared dependency of that stage (see dragoman/workflow/codedeps.py).
"""
