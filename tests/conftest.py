"""Shared fixtures: tiny random models and tokenizers built locally (no hub), and a tiny-config repo copy."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

TINY_CORPUS = [
    "The quick brown fox jumps over the lazy dog.", "Hello, how are you today?",
    "مرحبا كيف حالك اليوم؟", "ذهب الولد إلى المدرسة صباحا.", "الكتاب على الطاولة.",
    "བཀྲ་ཤིས་བདེ་ལེགས།", "Good morning, my friend.", "أحب القراءة في الليل.",
]


def build_tiny_model(dst: Path) -> Path:
    """A 2-layer Llama with a 300-token byte-level BPE trained here, plus a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    import torch

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TINY_CORPUS * 5, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="</s>")
    fast.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
                          "{% if add_generation_prompt %}<s>assistant\n{% endif %}")
    torch.manual_seed(0)
    # hidden 64: bitsandbytes' CPU 4-bit kernels need in_features >= their block size (64) for the QLoRA stage
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(dst)
    fast.save_pretrained(dst)
    return dst


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """accelerate keeps one process-wide state: a Trainer with another mixed precision than an earlier test's
    would be refused (on a GPU machine, where the tests' bf16 settings differ from the default's)."""
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def run(cmd: list[str], cwd: Path, check: bool = True, env_extra: dict | None = None,
        **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "TOKENIZERS_PARALLELISM": "false", **(env_extra or {})}
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")
    return p


def copy_repo(dst: Path) -> Path:
    """Tracked and untracked-but-not-ignored files of this checkout, plus a copy of the pulled raw data."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)
    for d in (ROOT / "data" / "raw").iterdir():
        if d.is_dir():
            shutil.copytree(d, dst / "data" / "raw" / d.name)
    return dst


def tiny_params(repo: Path, model: Path) -> None:
    """The tiny config: the same sources, a few records each, a tiny random base model."""
    import yaml
    p = yaml.safe_load((repo / "params.yaml").read_text())
    p["base"]["model"] = str(model)
    p["ingest"]["limit"] = 150
    p["fertility"]["max_records"] = 100
    p["splits"]["fractions"] = {"dev": 0.1, "test": 0.1}
    for stage in ("cpt", "sft", "qlora"):
        p[stage].update(seq_len=64, batch_size=4, max_steps=4, eval_every=2, eval_rows=4, save_every=2, lr=3e-3)
    p["cpt"]["max_records"] = 200
    p["sft"]["seq_len"] = p["qlora"]["seq_len"] = 128  # the tiny byte-level tokenizer spends ~1 token per byte
    p["sft"]["mixture"] = {"translation": 40, "classification": 20, "source_instructions": 10,
                           "translated_instructions": 10}
    for stage in ("teacher", "translator"):  # translation prompts: ~1 token per byte with the tiny tokenizer
        p[stage].update(seq_len=192, batch_size=4, max_steps=4, eval_every=2, eval_rows=4, save_every=2, lr=3e-3,
                        max_pairs=60)
    tiny_gen = {"max_new_tokens": 8, "batch_size": 8}
    for section in (p["teacher_fp8"], p["pairs"], p["translator"], p["instructions"], p["eval"]["translation"]):
        section["generation"].update(tiny_gen)
    p["teacher_fp8"]["eval"]["n"] = p["translator"]["eval"]["n"] = 6
    p["pairs"].update(n_instructions=4, max_source_tokens=24)
    p["pairs"]["judge"].update(max_pairs=16, max_len=192)
    p["instructions"].update(n=6, max_source_tokens=24, backtranslation_sample=2)
    p["eval"].update(perplexity={"n": 8, "max_len": 64}, mcq={"source": "exams_ar", "n": 6},
                     classification={"source": "arsarcasm_test", "n": 6})
    p["eval"]["translation"]["n"] = 4
    p["eval"]["robustness"]["n"] = 4
    (repo / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True, sort_keys=False))


def git_init(repo: Path) -> None:
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=ci@dragoman", "-c", "user.name=ci", "commit", "-qm", "tiny"]):
        run(cmd, repo)


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory, tiny_model) -> Path:
    """One end-to-end Snakemake run of the whole DAG on the tiny config, shared by every end-to-end test."""
    repo = copy_repo(tmp_path_factory.mktemp("e2e") / "repo")
    tiny_params(repo, tiny_model)
    run([str(BIN / "python"), "-m", "dragoman.workflow.dvcgen"], repo)  # params changed nothing structural: same DAG
    git_init(repo)
    # the raw corpora into this repo's DVC cache, as `make data` leaves them: checkouts (exp apply) need them
    run([str(BIN / "dvc"), "commit", "--force", *sorted(str(p.relative_to(repo)) for p in (repo / "data/raw").glob("*.dvc"))], repo)
    # a crash in the first training stage after step 3 (its checkpoint is at step 2): Snakemake fails ...
    crashed = run([str(BIN / "snakemake"), "--cores", "2", "--keep-going"], repo, check=False,
                  env_extra={"DRAGOMAN_FAULT_AT_STEP": "3"})
    assert crashed.returncode != 0 and not (repo / "models/cpt").exists()
    # ... and the rerun resumes it from the keyed scratch state instead of starting over
    run([str(BIN / "snakemake"), "--cores", "2"], repo)
    return repo


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """A real S3 server (SeaweedFS) on 127.0.0.1 for the session: the team remote of the DVC tests."""
    import s3server
    server = s3server.start(BIN / "weed", tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()


def planned_jobs(repo: Path) -> set[str]:
    """Rules `snakemake -n` would run (from its job-stats table)."""
    out = run([str(BIN / "snakemake"), "-n", "--quiet", "rules"], repo).stdout
    jobs = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            jobs.add(parts[0])
    return jobs


@pytest.fixture(scope="session")
def tiny_bo_repo(tmp_path_factory, tiny_model) -> Path:
    """The whole DAG on the Tibetan profile (languages/tibetan.yaml) with the tiny config."""
    import yaml
    repo = copy_repo(tmp_path_factory.mktemp("e2e-bo") / "repo")
    run([str(BIN / "python"), "-m", "dragoman.workflow.overlays", "languages/tibetan.yaml"], repo)
    tiny_params(repo, tiny_model)
    p = yaml.safe_load((repo / "params.yaml").read_text())
    p["ingest"]["limit"] = 1500  # ~40 OpenPecha documents, so dev and test get whole documents too
    p["eval"].update(mcq={"source": "none", "n": 1}, classification={"source": "none", "n": 1})
    p["eval"]["robustness"]["sources"] = ["openpecha_en"]
    p["teacher_fp8"]["eval"]["source"] = p["translator"]["eval"]["source"] = "openpecha_en"
    (repo / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True, sort_keys=False))
    run([str(BIN / "python"), "-m", "dragoman.workflow.dvcgen"], repo)
    git_init(repo)
    run([str(BIN / "snakemake"), "--cores", "2"], repo)
    return repo
