import copy

import pytest
import yaml

from conftest import ROOT
from dragoman import params as P


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
