"""Stage `teacher_fp8`: FP8 quantization of the teacher with LLM Compressor, and what it costs in quality.

Inputs:  model (models/teacher), dev (data/splits/dev.jsonl)
Outputs: model (models/teacher_fp8: compressed-tensors FP8 checkpoint), report (reports/teacher_fp8.json: sizes,
         chrF of bf16 vs FP8 on the same dev pairs), hyps (reports/teacher_fp8.hyps.jsonl: both models'
         hypotheses, so the scores can be recomputed), perf (reports/teacher_fp8.perf.json: tokens/s of both)
Params:  teacher_fp8, teacher.prompt, languages
Debug:   python scripts/teacher_fp8.py --input model=models/teacher --input dev=data/splits/dev.jsonl \
             --output model=/tmp/fp8 --output report=/tmp/fp8.json --output hyps=/tmp/fp8.hyps.jsonl \
             --keys teacher_fp8,teacher.prompt,languages

`oneshot(model, recipe=QuantizationModifier(targets="Linear", scheme="FP8_DYNAMIC", ignore=["lm_head"]))`:
FP8 E4M3 weights with per-channel scales, activations quantized per token at run time, so no calibration
data. Saved with `save_compressed=True`; `AutoModelForCausalLM.from_pretrained` reloads it. On CPU the
weights are dequantized on the fly, so FP8 is smaller but slower here; on Hopper GPUs vLLM runs FP8 GEMMs.
"""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.workflow import io, scratch as S, stage
from dragoman.lm import translation
from dragoman.lm.generate import GenConfig, Generator
from dragoman.train.mixture import sample
from dragoman.lm.models import folder_bytes, resolve, safetensors_dtypes
from dragoman.workflow.pin import hub_ref


def quantize(src: str, bf16_dir: Path, out: str, scheme: str, ignore: list[str]) -> None:
    """Save the teacher in bf16 (the size baseline), then quantize and save the compressed checkpoint."""
    import torch
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from transformers import AutoModelForCausalLM, AutoTokenizer
    repo, rev = hub_ref(src)  # a pinned hub teacher (teacher.model) loads at its sha
    tok = AutoTokenizer.from_pretrained(repo, revision=rev)
    model = AutoModelForCausalLM.from_pretrained(repo, revision=rev, dtype=torch.bfloat16)
    if not (bf16_dir / "config.json").exists():
        with io.atomic_path(bf16_dir) as tmp:
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
    oneshot(model=model, recipe=QuantizationModifier(targets="Linear", scheme=scheme, ignore=list(ignore)))
    with io.atomic_path(out) as tmp:
        model.save_pretrained(tmp, save_compressed=True)
        tok.save_pretrained(tmp)


def eval_pairs(dev: list[dict], p: dict, langs: dict) -> list[dict]:
    pairs = [r for r in dev if r["kind"] == "parallel" and r["source"] == p["eval"]["source"]]
    return sample(pairs, p["eval"]["n"], seed=0)


def main(st: stage.Stage) -> None:
    p, langs, prompt = st.params["teacher_fp8"], st.params["languages"], st.params["teacher.prompt"]
    src, tgt = langs["source"], langs["target"]
    scratch = S.for_stage(st)
    bf16_dir = scratch / "teacher-bf16"
    quantize(resolve(st.input["model"]), bf16_dir, st.output["model"], p["scheme"], p["ignore"])
    pairs = eval_pairs(list(io.read_jsonl(st.input["dev"])), p, langs)
    items = [(r["id"], translation.messages(prompt, r["texts"][src], src, tgt, langs["names"])) for r in pairs]
    refs = [r["texts"][tgt] for r in pairs]
    cfg = GenConfig.from_params(p["generation"])
    results, hyps = {}, {}
    for name, folder in (("bf16", str(bf16_dir)), ("fp8", st.output["model"])):
        gen = Generator(folder, cfg, prompt, scratch, name=name)
        outs = gen(items)
        hyps[name] = [outs[i].text for i, _ in items]
        results[name] = {**translation.score(hyps[name], refs, langs["scripts"].get(tgt, "")),
                         "truncated": sum(o.truncated for o in outs.values())}
        st.perf[f"generate_{name}"] = gen.perf()
    dtypes = safetensors_dtypes(st.output["model"])
    fp8_names = [n for n, d in dtypes.items() if d["dtype"] == "F8_E4M3"]
    bf16_types = safetensors_dtypes(str(bf16_dir))
    report = {"scheme": p["scheme"], "ignore": p["ignore"], "eval_source": p["eval"]["source"],
              "direction": f"{src}->{tgt}", "bytes_bf16": folder_bytes(str(bf16_dir)),
              "bytes_fp8": folder_bytes(st.output["model"]), "fp8_tensors": len(fp8_names),
              "linear_bytes_ratio": round(sum(dtypes[n]["bytes"] for n in fp8_names)
                                          / max(1, sum(bf16_types[n]["bytes"] for n in fp8_names if n in bf16_types)), 4),
              **{f"{k}_{m}": v for m, r in results.items() for k, v in r.items()}}
    report["size_ratio"] = round(report["bytes_fp8"] / report["bytes_bf16"], 4)
    report["chrf_delta"] = round(results["fp8"]["chrf"] - results["bf16"]["chrf"], 4)
    io.write_jsonl(st.output["hyps"], [{"id": r["id"], "source": r["texts"][src], "reference": r["texts"][tgt],
                                        "bf16": a, "fp8": b} for r, a, b in zip(pairs, hyps["bf16"], hyps["fp8"])])
    io.write_json(st.output["report"], report)
    shutil.rmtree(bf16_dir, ignore_errors=True)  # the size baseline; the generation cache stays for reruns


if __name__ == "__main__":
    stage.run(main, globals())
