"""End to end: the whole DAG on the tiny config, under Snakemake and DVC, sharing one run."""
import csv
import hashlib
import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from conftest import BIN, planned_jobs, run

# Byte for byte: every model, data file and ledger. Compared as numbers (relative 1e-4): the stage reports and
# metrics, whose losses and scores come from bf16 autocast forwards (see the determinism test for what CI saw).
# Not compared: the plots drawn from those numbers, results/metrics.json's provenance (git revision and dirty flag,
# device) and the model card that prints it.
EXACT = ["data/ingested/records.jsonl", "data/clean/records.jsonl", "data/clean/dropped.jsonl",
         "data/splits/train.jsonl", "data/splits/dev.jsonl", "data/splits/test.jsonl",
         "models/base/model.safetensors", "models/cpt/model.safetensors", "models/sft/model.safetensors",
         "models/qlora/model.safetensors", "models/qlora/adapter/adapter_model.safetensors",
         "models/teacher/model.safetensors", "models/teacher_fp8/model.safetensors", "data/pairs/tuples.jsonl",
         "data/pairs/accepted.jsonl", "models/translator/model.safetensors", "data/instructions/train.jsonl",
         "models/merged/model.safetensors"]
NUMERIC = ["reports/ingest.json", "reports/clean.json", "reports/splits.json", "reports/fertility.json",
           "reports/cpt.json", "reports/sft.json", "reports/qlora.json", "reports/teacher.json",
           "reports/teacher_fp8.json", "reports/pairs.json", "reports/translator.json", "reports/instructions.json",
           "reports/merge.json", "reports/layers.json", "results/metrics.json"]
OUTPUTS = EXACT + NUMERIC + ["reports/layers.png", "results/metrics.png", "results/headline.csv"]
DOWNSTREAM_OF_CLEAN = {"clean", "splits", "fertility", "cpt", "sft", "qlora", "teacher", "teacher_fp8", "pairs",
                       "translator", "instructions", "merge", "metrics", "layers", "card"}
SCORES = {"type": "object", "required": ["n", "bleu", "chrf", "chrf++", "bleu_signature", "chrf_signature"]}
PPL = {"type": "object", "required": ["ppl", "nll_per_char", "tokens", "texts"],
       "properties": {"ppl": {"type": "number", "exclusiveMinimum": 1}}}
METRICS_SCHEMA = {
    "type": "object", "required": ["headline", "delta_vs_base", "models", "eval_sets", "provenance"],
    "properties": {
        "models": {"type": "object", "required": ["base", "cpt", "sft", "qlora", "merged"], "additionalProperties": {
            "type": "object", "required": ["perplexity", "translation", "mcq", "classification", "robustness"],
            "properties": {
                "perplexity": {"type": "object", "required": ["target", "source"], "additionalProperties": PPL},
                "translation": {"type": "object", "required": ["en->ar", "ar->en"], "additionalProperties": SCORES},
                "mcq": {"type": "object", "required": ["acc", "acc_norm", "n"]},
                "classification": {"type": "object", "required": ["dialect", "sentiment"], "additionalProperties": {
                    "type": "object", "required": ["accuracy", "macro_f1", "n"]}},
                "robustness": {"type": "object", "required": ["original", "strip_diacritics", "tatweel", "typos"]}}}},
        "provenance": {"type": "object", "required": ["inputs", "params", "git", "packages", "device"]}}}


def digest(repo: Path) -> dict:
    """Hashes of the EXACT files and the parsed NUMERIC ones (metrics.json without its provenance)."""
    out: dict = {p: hashlib.sha256((repo / p).read_bytes()).hexdigest() for p in EXACT}
    for p in NUMERIC:
        out[p] = json.loads((repo / p).read_text())
    del out["results/metrics.json"]["provenance"]
    out["results/headline.csv"] = [[cell(c) for c in row] for row in csv.reader((repo / "results/headline.csv").open())]
    return out


def differences(a, b, where: str = "") -> list[str]:
    """Where two parsed outputs differ: structure and strings exactly, numbers to a relative 1e-4."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys {sorted(a.keys() ^ b.keys())}"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    x, y = as_number(a), as_number(b)
    if x is not None and y is not None:
        return [] if math.isclose(x, y, rel_tol=1e-4, abs_tol=1e-9) else [f"{where}: {a} vs {b}"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def as_number(x) -> float | None:
    """A JSON number (or a CSV cell read as one); None otherwise."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def cell(text: str):
    """A CSV cell as a number where it reads as one."""
    try:
        return float(text)
    except ValueError:
        return text


def load(repo, p):
    return json.loads((repo / p).read_text())


def test_outputs_and_ledgers(tiny_repo):
    for p in OUTPUTS + ["results/model_card.md"]:
        assert (tiny_repo / p).exists(), p
    ing, cl, sp = (load(tiny_repo, f"reports/{s}.json") for s in ("ingest", "clean", "splits"))
    for rep in (ing, cl, sp):
        for name, s in rep["sources"].items():
            assert s["in"] == s["kept"] + sum(s["dropped"].values()), name
    for name in ing["sources"]:  # each stage reads exactly what the previous one kept
        assert cl["sources"][name]["in"] == ing["sources"][name]["kept"] == 150
        assert sp["sources"][name]["in"] == cl["sources"][name]["kept"]
    dropped = [json.loads(l) for l in (tiny_repo / "data/clean/dropped.jsonl").read_text().splitlines()]
    assert len(dropped) == sum(sum(s["dropped"].values()) for s in cl["sources"].values())
    assert all(d["drop_reason"] for d in dropped)
    # official splits kept; groups never straddle splits
    test_ids = {json.loads(l)["source"] for l in (tiny_repo / "data/splits/test.jsonl").read_text().splitlines()}
    assert {"arsarcasm_test", "exams_ar"} <= test_ids
    where = {}
    for split in ("train", "dev", "test"):
        for l in (tiny_repo / f"data/splits/{split}.jsonl").read_text().splitlines():
            r = json.loads(l)
            assert where.setdefault((r["source"], r["group"]), split) == split
    fert = load(tiny_repo, "reports/fertility.json")
    assert fert["languages"]["ar"]["tokens_per_word"] > fert["languages"]["en"]["tokens_per_word"] > 0
    assert "no_diacritics" in fert["languages"]["ar"]["variants"]


def test_training_stages_report_and_learn(tiny_repo):
    for stage in ("cpt", "sft", "qlora"):
        rep = load(tiny_repo, f"reports/{stage}.json")
        assert rep["steps"] == 4 and rep["tokens_seen"] > 0 and rep["mixture"], stage
        assert rep["eval_loss_final"] < rep["eval_loss_step0"], (stage, rep["eval_loss_step0"], rep["eval_loss_final"])
        perf = load(tiny_repo, f"reports/{stage}.perf.json")
        assert perf["tokens_per_s"] > 0 and perf["steady_rss_mb"] > 0
        assert (tiny_repo / f"reports/{stage}.live/plots/metrics/train/loss.tsv").exists()
    assert load(tiny_repo, "reports/cpt.perf.json")["resumed_from_step"] == 2  # the crashed run's checkpoint
    q = load(tiny_repo, "reports/qlora.json")
    assert q["linear4bit_layers"] > 0 and q["optimizer"] in ("adamw_8bit", "adamw")
    sft_mix = load(tiny_repo, "reports/sft.json")["mixture"]
    assert any(k.endswith(":translate") for k in sft_mix) and any(k.endswith(":dialect") for k in sft_mix)
    assert not (tiny_repo / ".scratch" / "cpt").exists() or not any((tiny_repo / ".scratch" / "cpt").iterdir())


def test_after_a_snakemake_run_neither_tool_has_anything_to_do(tiny_repo):
    assert planned_jobs(tiny_repo) == set()
    # the Snakefile's onsuccess handler recorded the run in dvc.lock
    assert "up to date" in run([str(BIN / "dvc"), "status"], tiny_repo).stdout.lower()


def test_clean_param_edit_reruns_clean_and_downstream_only(tiny_repo):
    params = (tiny_repo / "params.yaml").read_text()
    try:
        p = yaml.safe_load(params)
        p["clean"]["min_chars"] = 10
        (tiny_repo / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True, sort_keys=False))
        assert planned_jobs(tiny_repo) == DOWNSTREAM_OF_CLEAN | {"all"}
    finally:
        (tiny_repo / "params.yaml").write_text(params)
    assert planned_jobs(tiny_repo) == set()


def test_dvc_repro_reproduces_byte_identical_outputs_then_reruns_only_what_changed(tiny_repo):
    # Two forced DVC runs of every stage, each from scratch. Not the fixture's Snakemake run against one of them:
    # there the first training stages crashed and resumed, and CI twice saw that run differ in low bits (a step-0
    # eval loss once, the resumed teacher's weights once) where no rerun here ever did.
    runs = []
    for _ in range(2):
        out = run([str(BIN / "dvc"), "repro", "--force"], tiny_repo).stdout  # DVC runs every stage itself
        assert "Running stage 'clean'" in out
        runs.append(digest(tiny_repo))
    assert differences(*runs) == []  # deterministic: the same models, data and ledgers, byte for byte
    assert "up to date" in run([str(BIN / "dvc"), "status"], tiny_repo).stdout.lower()
    params = (tiny_repo / "params.yaml").read_text()
    p = yaml.safe_load(params)
    p["clean"]["min_chars"] = 10
    (tiny_repo / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True, sort_keys=False))
    try:
        out = run([str(BIN / "dvc"), "repro"], tiny_repo).stdout
        ran = {l.split("'")[1] for l in out.splitlines() if l.startswith("Running stage")}
        assert ran == DOWNSTREAM_OF_CLEAN, out
    finally:
        (tiny_repo / "params.yaml").write_text(params)
        run([str(BIN / "dvc"), "repro"], tiny_repo)
    # DVC skipped the stages whose inputs came back byte-identical, so their outputs are older than those
    # inputs: `snakemake --touch` (what `make repro` runs after `dvc repro`) records them as up to date
    run([str(BIN / "snakemake"), "--touch", "--cores", "1", "--quiet"], tiny_repo)
    assert planned_jobs(tiny_repo) == set()  # and after a DVC run, Snakemake has nothing to do either
    assert "up to date" in run([str(BIN / "dvc"), "status"], tiny_repo).stdout.lower()



def test_translate_and_tune_stages(tiny_repo, tmp_path):
    scratch_out = tmp_path
    fp8 = load(tiny_repo, "reports/teacher_fp8.json")
    assert fp8["fp8_tensors"] > 0 and fp8["bytes_fp8"] < fp8["bytes_bf16"] and fp8["n_fp8"] == fp8["n_bf16"] == 6
    hyps = (tiny_repo / "reports/teacher_fp8.hyps.jsonl").read_text().splitlines()
    assert len(hyps) == 6 and {"bf16", "fp8", "reference", "source"} <= set(json.loads(hyps[0]))
    pairs = load(tiny_repo, "reports/pairs.json")
    assert pairs["judge_method"] == "xent" and pairs["instructions_in"] == 4
    for name, src in pairs["ledger"]["sources"].items():
        assert src["in"] == src["kept"] + sum(src["dropped"].values()), name
    assert pairs["accepted_pairs"] == len((tiny_repo / "data/pairs/accepted.jsonl").read_text().splitlines()) > 0
    assert sum(pairs["score_histogram"]["counts"]) > 0
    tr = load(tiny_repo, "reports/translator.json")
    assert set(tr["scores"]) == {"base", "translator"} and "tok:13a" in tr["scores"]["base"]["en->ar"]["bleu_signature"]
    ins = load(tiny_repo, "reports/instructions.json")
    assert ins["ledger"]["total"]["in"] == 6
    assert ins["records"] == len((tiny_repo / "data/instructions/train.jsonl").read_text().splitlines())
    # a rerun of a generation stage with unchanged inputs finds every output in its cache: zero generate calls
    # (run twice: earlier tests may have left the cache keyed to other inputs)
    for _ in range(2):
        out = run([str(BIN / "python"), "scripts/instructions.py", "--input", "model=models/translator", "--input",
                   "train=data/splits/train.jsonl", "--output", f"corpus={scratch_out}/instr.jsonl", "--output",
                   f"report={scratch_out}/instr.json", "--output", f"perf={scratch_out}/instr.perf.json",
                   "--keys", "instructions,translator.prompt,languages"], tiny_repo)
    assert json.loads((scratch_out / "instr.perf.json").read_text())["generate"]["generate_calls"] == 0, out.stderr
    assert (scratch_out / "instr.jsonl").read_bytes() == (tiny_repo / "data/instructions/train.jsonl").read_bytes()


def test_merge_metrics_layers_card(tiny_repo):
    import jsonschema
    m = load(tiny_repo, "results/metrics.json")
    jsonschema.validate(m, METRICS_SCHEMA)
    assert set(m["headline"]) == {"base", "cpt", "sft", "qlora", "merged"}
    assert m["provenance"]["inputs"]["merged"] and "torch" in m["provenance"]["packages"]
    assert m["eval_sets"]["mcq"] == 6 and m["models"]["base"]["mcq"]["n"] == 6
    hyps = (tiny_repo / "results/hyps.jsonl").read_text().splitlines()
    assert len(hyps) == 5 * 2 * 4  # models x directions x pairs
    lay = load(tiny_repo, "reports/layers.json")
    assert set(lay) == {"base->cpt", "cpt->sft", "base->merged"}
    assert lay["base->cpt"]["mean"] > 0 and "mlp.down_proj" in lay["base->cpt"]["by_module_layer"]
    assert load(tiny_repo, "reports/merge.json")["mergekit_config"]["merge_method"] == "slerp"
    card = (tiny_repo / "results/model_card.md").read_text()
    assert "## Metrics" in card and "CC-BY 2.0 FR" in card and "| merged |" in card
    assert not (tiny_repo / "models/merged/README.md").exists()  # the card never lands in the merged folder
    # the release folder is the merged model plus a README.md that the hub's own parser reads as a model card
    from huggingface_hub import ModelCard
    rel = tiny_repo / "models/release"
    assert (rel / "model.safetensors").read_bytes() == (tiny_repo / "models/merged/model.safetensors").read_bytes()
    hub_card = ModelCard.load(rel / "README.md")
    assert hub_card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and hub_card.data.license == "other"
    assert hub_card.data.language == ["ar", "en"] and "dragoman" in hub_card.data.tags
    results = {(r.metric_type, r.metric_name): r.metric_value for r in hub_card.data.eval_results}
    assert results[("chrf", "chrF en->ar")] == m["headline"]["merged"]["chrf_src_tgt"]
    assert results[("accuracy", "multiple-choice accuracy")] == m["headline"]["merged"]["mcq_acc"]
    assert "## Metrics" in hub_card.text


# ---- experiments and sharing: last, because they commit to the shared run's git history --------------------
GIT_ID = ["-c", "user.email=ci@dragoman", "-c", "user.name=ci"]


def commit_run(repo) -> None:
    """What a user does after a run: commit dvc.lock and the small, git-tracked outputs (metrics, curves)."""
    run(["git", "add", "-A"], repo)
    run(["git", *GIT_ID, "commit", "-qm", "run", "--allow-empty"], repo)


def test_exp_run_reuses_cached_stages_and_exp_show_has_metrics(tiny_repo):
    commit_run(tiny_repo)
    out = run([str(BIN / "dvc"), "exp", "run", "-S", "merge.t=0.3", "--name", "t03"], tiny_repo).stdout
    ran = {l.split("'")[1] for l in out.splitlines() if l.startswith("Running stage")}
    assert ran == {"merge", "metrics", "layers", "card"}, out  # everything before merge came from the cache
    show = json.loads(run([str(BIN / "dvc"), "exp", "show", "--json"], tiny_repo).stdout)
    text = json.dumps(show)
    assert "t03" in text and "headline" in text  # the experiment, with results/metrics.json's numbers
    # a queued sweep runs in temporary copies of the repo (.dvc/tmp/exps): the commands find the venv on PATH
    # and import dragoman from the copy; only the stages from merge on run there too
    for t in ("0.7", "1.0"):
        run([str(BIN / "dvc"), "exp", "run", "--queue", "-S", f"merge.t={t}"], tiny_repo)
    run([str(BIN / "dvc"), "exp", "run", "--run-all"], tiny_repo)
    shown = run([str(BIN / "dvc"), "exp", "show", "--json"], tiny_repo).stdout
    assert '"t": 0.7' in shown and '"t": 1.0' in shown, shown[-2000:]
    diff = run([str(BIN / "dvc"), "plots", "diff", "HEAD", "t03", "--json"], tiny_repo).stdout
    assert '"t03"' in diff and "eval_loss" in diff  # training curves of the run and the experiment, side by side
    run([str(BIN / "dvc"), "exp", "apply", "t03"], tiny_repo)
    assert json.loads((tiny_repo / "reports/merge.json").read_text())["mergekit_config"]["parameters"]["t"] == 0.3
    run(["git", "checkout", "--", "."], tiny_repo)  # back to the committed run
    run([str(BIN / "dvc"), "checkout", "--force"], tiny_repo)
    run([str(BIN / "snakemake"), "--touch", "--cores", "1", "--quiet"], tiny_repo)
    assert planned_jobs(tiny_repo) == set()


def add_s3_remote(repo: Path, s3) -> None:
    """The team remote as README says: URL and endpoint in the repo's config, keys only in the environment."""
    run([str(BIN / "dvc"), "remote", "add", "--local", "--force", "team", "s3://dragoman/cache"], repo)
    run([str(BIN / "dvc"), "remote", "modify", "--local", "team", "endpointurl", s3.endpoint], repo)


def test_push_to_s3_then_fresh_clone_pull_is_up_to_date(tiny_repo, tmp_path, s3):
    commit_run(tiny_repo)
    add_s3_remote(tiny_repo, s3)
    refused = run([str(BIN / "dvc"), "push", "-r", "team"], tiny_repo, check=False,
                  env_extra={"AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "wrong"})
    assert refused.returncode != 0  # the store checks keys: a push without the team's keys is refused
    run([str(BIN / "dvc"), "push", "-r", "team"], tiny_repo, env_extra=s3.env)  # raw corpora, data and models
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(tiny_repo), str(clone)], tmp_path)
    add_s3_remote(clone, s3)
    run([str(BIN / "dvc"), "pull", "-r", "team"], clone, env_extra=s3.env)
    assert (clone / "models/merged/model.safetensors").read_bytes() == \
        (tiny_repo / "models/merged/model.safetensors").read_bytes()
    assert "up to date" in run([str(BIN / "dvc"), "status"], clone).stdout.lower()
    # checkout gives files new mtimes in no particular order; `make pull` runs this after `dvc pull`
    run([str(BIN / "snakemake"), "--touch", "--cores", "1", "--quiet"], clone)
    assert planned_jobs(clone) == set()


def test_experiments_travel_through_git_and_s3(tiny_repo, tmp_path, s3):
    """`dvc exp push` sends an experiment's git refs to the git remote and its outputs to the S3 remote; a
    teammate's clone lists it with `dvc exp pull` and applies it without running anything."""
    commit_run(tiny_repo)
    add_s3_remote(tiny_repo, s3)
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", str(origin)], tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], tiny_repo)
    run(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], tiny_repo)
    run([str(BIN / "dvc"), "push", "-r", "team"], tiny_repo, env_extra=s3.env)
    run([str(BIN / "dvc"), "exp", "run", "-S", "merge.t=0.4", "--name", "t04"], tiny_repo)
    t04_merge = (tiny_repo / "reports/merge.json").read_bytes()
    run([str(BIN / "dvc"), "exp", "push", "-r", "team", "origin", "t04"], tiny_repo, env_extra=s3.env)
    run(["git", "checkout", "--", "."], tiny_repo)  # back to the committed run
    run([str(BIN / "dvc"), "checkout", "--force"], tiny_repo)
    run([str(BIN / "snakemake"), "--touch", "--cores", "1", "--quiet"], tiny_repo)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", "-b", "main", str(origin), str(clone)], tmp_path)
    add_s3_remote(clone, s3)
    run([str(BIN / "dvc"), "exp", "pull", "-r", "team", "origin", "t04"], clone, env_extra=s3.env)
    assert "t04" in run([str(BIN / "dvc"), "exp", "list", "--all-commits"], clone).stdout
    run([str(BIN / "dvc"), "exp", "apply", "t04"], clone)
    assert (clone / "reports/merge.json").read_bytes() == t04_merge
    assert "up to date" in run([str(BIN / "dvc"), "status"], clone).stdout.lower()


def test_snakemake_and_dvc_never_run_one_stage_at_once(tiny_repo, tmp_path):
    """`snakemake -f` and `dvc repro -f` of one stage at the same time: the second names the first and fails,
    and the first finishes with whole outputs (each tool locks only against itself; the stage lock is shared)."""
    repo = tmp_path / "repo"
    shutil.copytree(tiny_repo, repo, symlinks=True)
    shutil.rmtree(repo / ".scratch" / "locks", ignore_errors=True)
    p = yaml.safe_load((repo / "params.yaml").read_text())
    p["cpt"].update(max_steps=400, eval_every=400, save_every=400)  # long enough to overlap
    (repo / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True, sort_keys=False))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "TOKENIZERS_PARALLELISM": "false"}
    smk = subprocess.Popen([str(BIN / "snakemake"), "--cores", "1", "-f", "models/cpt"], cwd=repo, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lock = repo / ".scratch" / "locks" / "cpt.lock"
    deadline = time.monotonic() + 300
    while not (lock.exists() and "from snakemake" in lock.read_text()):
        assert smk.poll() is None and time.monotonic() < deadline, smk.stdout.read()[-3000:] if smk.stdout else ""
        time.sleep(0.2)
    refused = run([str(BIN / "dvc"), "repro", "-f", "-s", "cpt"], repo, check=False)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "stage 'cpt' is already running" in out and "from snakemake" in out, out
    assert smk.wait(timeout=600) == 0, smk.stdout.read()[-3000:]
    assert json.loads((repo / "reports/cpt.json").read_text())["steps"] == 400
    assert (repo / "models/cpt/model.safetensors").exists()
