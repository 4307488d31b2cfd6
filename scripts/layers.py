"""Stage `layers`: where training moved the weights — ||dW|| / ||W|| per tensor, by layer and module type.

Inputs:  one folder per model in `layers.pairs` (e.g. models/base, models/cpt, models/sft, models/merged)
Outputs: report (reports/layers.json), heatmap (reports/layers.png)
Params:  layers
Debug:   python scripts/layers.py --input base=models/base --input cpt=models/cpt --input sft=models/sft \
             --input merged=models/merged --output report=/tmp/layers.json --output heatmap=/tmp/layers.png --keys layers

Seed 002 found that CPT moves the embeddings and LM head most and SFT the middle MLPs; this stage shows what
happened here. Tensors are read one at a time from the safetensors files (memory stays at two tensors).
"""

import logging
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.workflow import io, stage

log = logging.getLogger("layers")
LAYER = re.compile(r"\.layers\.(\d+)\.")


def tensors(folder: str) -> dict[str, Path]:
    from safetensors import safe_open
    out = {}
    for f in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(f, "pt") as fh:
            out.update({k: f for k in fh.keys()})
    return out


def load(path: Path, name: str):
    from safetensors import safe_open
    with safe_open(path, "pt") as fh:
        return fh.get_tensor(name).float()


def where(name: str) -> tuple[str, str]:
    """(layer label, module type) of a tensor name: ('7', 'mlp.down_proj') or ('-', 'embed_tokens')."""
    m = LAYER.search(name)
    module = re.sub(r"^.*\.layers\.\d+\.", "", name).removesuffix(".weight").removesuffix(".bias")
    if not m:
        module = name.split(".")[-2] if name.count(".") else name
    return (m.group(1) if m else "-"), module


def relative_change(a: str, b: str) -> dict[str, float]:
    """{tensor: ||W_b - W_a|| / ||W_a||} over the tensors both folders hold."""
    ta, tb = tensors(a), tensors(b)
    out = {}
    for name in sorted(set(ta) & set(tb)):
        wa, wb = load(ta[name], name), load(tb[name], name)
        out[name] = round(float((wb - wa).norm() / wa.norm().clamp_min(1e-12)), 6)
    return out


def aggregate(changes: dict[str, float]) -> dict:
    """Mean relative change per (module type, layer)."""
    grid: dict = defaultdict(dict)
    acc: dict = defaultdict(list)
    for name, v in changes.items():
        layer, module = where(name)
        acc[(module, layer)].append(v)
    for (module, layer), vs in sorted(acc.items()):
        grid[module][layer] = round(sum(vs) / len(vs), 6)
    return dict(grid)


def heatmap(results: dict, out: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    fig, axes = plt.subplots(len(results), 1, figsize=(12, 3.2 * len(results)), squeeze=False)
    for ax, (pair, res) in zip(axes[:, 0], results.items()):
        grid = res["by_module_layer"]
        modules = sorted(grid)
        layers = sorted({l for g in grid.values() for l in g}, key=lambda l: (l != "-", int(l) if l != "-" else -1))
        mat = np.array([[grid[m].get(l, np.nan) for l in layers] for m in modules])
        im = ax.imshow(mat, aspect="auto", cmap="viridis")
        ax.set_yticks(range(len(modules)), modules, fontsize=7)
        ax.set_xticks(range(len(layers)), layers, fontsize=7)
        ax.set_title(f"{pair}: ||dW|| / ||W||  (layer '-' = outside the blocks)", fontsize=9)
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    with io.atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)


def main(st: stage.Stage) -> None:
    results = {}
    for a, b in st.params["layers.pairs"]:
        changes = relative_change(st.input[a], st.input[b])
        top = sorted(changes.items(), key=lambda kv: -kv[1])[:10]
        results[f"{a}->{b}"] = {"tensors": len(changes), "mean": round(sum(changes.values()) / max(1, len(changes)), 6),
                                "top": dict(top), "by_module_layer": aggregate(changes)}
    heatmap(results, st.output["heatmap"])
    io.write_json(st.output["report"], results)


if __name__ == "__main__":
    stage.run(main, globals())
