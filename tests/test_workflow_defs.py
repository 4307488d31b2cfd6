"""The DAG is written once (rules/*.smk): dvc.yaml must match it; the workflow must lint and format clean."""
import yaml

from conftest import BIN, ROOT, run
from dragoman.codedeps import code_deps


def test_committed_dvc_yaml_is_not_stale():
    p = run([str(BIN / "python"), "-m", "dragoman.dvcgen", "--check"], ROOT, check=False)
    assert p.returncode == 0, "dvc.yaml is stale: run `make dvc.yaml` and commit it\n" + p.stderr[-2000:]


def test_dvc_stages_declare_script_modules_and_params():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert {"base", "ingest", "clean", "splits", "fertility"} <= set(stages)
    assert stages["clean"]["params"] == ["clean", "languages"]
    assert "dragoman/langid.py" in stages["clean"]["deps"] and "scripts/clean.py" in stages["clean"]["deps"]
    assert "dragoman/langid.py" not in stages["ingest"]["deps"]
    assert stages["fertility"]["deps"].count("models/base") == 1
    assert {"reports/clean.perf.json": {"cache": False}} in stages["clean"]["metrics"]


def test_code_deps_are_transitive():
    deps = code_deps("scripts/clean.py", str(ROOT))
    # clean imports dragoman.dedup, which imports dragoman.normalize
    assert {"scripts/clean.py", "dragoman/dedup.py", "dragoman/normalize.py", "dragoman/__init__.py"} <= set(deps)


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
