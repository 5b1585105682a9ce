"""Golden outputs for the ONNX parity tests (test/golden/*.json), computed by the PyTorch reference.

    python tools/reference/make_golden.py            # random fixtures + embedded models
    python tools/reference/make_golden.py --fixtures # only (re)create the random checkpoints

The random checkpoints under test/fixtures/ are in the official layout and exercise what the
converter must get right: two BF16 shards with an index, the misspelled `dynmaic_*` keys taking
precedence over the correct spelling, an explicit layer-id list, F16 storage and YaRN scaling.
"""
import argparse, json, os, sys
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from repo_olmo2 import RePoConfig, RePoOlmo2, load_checkpoint, save_checkpoint  # noqa: E402

FIXTURES = {
    # Misspelled keys win (start 2), the correctly spelled ones say 0: a converter that reads the
    # wrong spelling makes every layer RePo and fails parity.
    "random-repo-bf16-sharded": dict(
        dtype=torch.bfloat16, shards=2,
        cfg=dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=4, rope_theta=500000.0,
                 max_position_embeddings=4096,
                 pe_config={"dynamic_pe_mode": "swigluex_multihead", "dynamic_pe_start_layer": 0,
                            "dynamic_pe_layer_ids": "", "dynmaic_pe_start_layer": 2,
                            "dynmaic_pe_layer_ids": ""})),
    # Correct spelling only, explicit layer ids, F16, YaRN factor 2.
    "random-repo-f16-yarn": dict(
        dtype=torch.float16, shards=1,
        cfg=dict(vocab_size=200, hidden_size=64, intermediate_size=80, num_hidden_layers=4,
                 num_attention_heads=2, num_key_value_heads=2, rope_theta=10000.0,
                 max_position_embeddings=256,
                 rope_scaling={"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 128},
                 pe_config={"dynamic_pe_mode": "swigluex_multihead", "dynamic_pe_layer_ids": "1,3",
                            "dynamic_pe_start_layer": 1})),
}


def make_fixtures():
    for name, spec in FIXTURES.items():
        torch.manual_seed(sum(map(ord, name)))
        raw = dict(architectures=["Olmo2ForCausalLM"], model_type="olmo2", rms_norm_eps=1e-6,
                   tie_word_embeddings=False, attention_bias=False, torch_dtype=str(spec["dtype"]).split(".")[-1],
                   **spec["cfg"])
        model = RePoOlmo2(RePoConfig.from_dict(raw))
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n.endswith("norm.weight"):
                    p.uniform_(0.5, 1.5)
                elif any(k in n for k in ("gate_map", "content_map", "final_map")):
                    p.normal_(0, 0.2)  # large enough that learned positions spread over tens of units
                else:
                    p.normal_(0, 0.08)
        save_checkpoint(model, os.path.join(ROOT, "test", "fixtures", name), dtype=spec["dtype"], shards=spec["shards"])


def cases_for(vocab, text_ids=None):
    g = torch.Generator().manual_seed(7)
    out = []
    if text_ids is not None:
        ids = text_ids
    else:
        ids = torch.randint(0, vocab, (96,), generator=g).tolist()
    T = len(ids)
    out.append(("one-token", ids[:1], [0]))
    out.append(("short", ids[:9], [8, 3]))
    out.append(("full", ids, [T - 3, T - 2, T - 1, T // 2]))
    out.append(("no-query", ids[:20], []))
    return out


@torch.no_grad()
def golden_for(folder_rel, text_ids=None):
    folder = os.path.join(ROOT, folder_rel)
    model = load_checkpoint(folder).eval()
    cfg = model.cfg
    res = {"checkpoint": folder_rel, "repoLayers": cfg.repo_layers, "numLayers": cfg.num_hidden_layers,
           "numHeads": cfg.num_attention_heads, "vocabSize": cfg.vocab_size, "cases": []}
    for name, ids, rows in cases_for(cfg.vocab_size, text_ids):
        for integer in (False, True):
            x = torch.tensor([ids])
            out = model(x, integer_positions=integer, query_rows=rows if rows else None, logits_rows="last")
            T = len(ids)
            pos = torch.stack([p[0] for p in out["positions"]]) if out["positions"] else torch.zeros(0, cfg.num_attention_heads, T)
            att = torch.stack([a[0] for a in out["attention"]]) if rows else torch.zeros(cfg.num_hidden_layers, cfg.num_attention_heads, 0, T)
            res["cases"].append({
                "name": f"{name}{'-integer' if integer else ''}", "ids": ids, "queryRows": rows,
                "integerPositions": integer,
                "positionsShape": list(pos.shape), "positions": [float(v) for v in pos.flatten().tolist()],
                "attentionShape": list(att.shape), "attention": [float(v) for v in att.flatten().tolist()],
                "lastLogits": [float(v) for v in out["logits"][0, -1].tolist()],
            })
    return res


def write(name, data):
    path = os.path.join(ROOT, "test", "golden", name + ".json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    print("wrote", os.path.relpath(path, ROOT), os.path.getsize(path), "bytes")


EMBEDDED_TEXT = ("| name | city | score |\n|---|---|---|\n| Alice | Oslo | 71 |\n| Bruno | Lima | 64 |\n"
                 "The special magic number for calm-river is 482913. Wir grüßen 世界 🙂.\n"
                 "What is the score of Bruno?\nAnswer:")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", action="store_true", help="only (re)create the random checkpoints")
    args = ap.parse_args()
    torch.set_num_threads(1)
    make_fixtures()
    if args.fixtures:
        return
    for name in FIXTURES:
        write(name, golden_for(f"test/fixtures/{name}"))
    for name in ("repo-tiny", "rope-tiny"):
        if os.path.exists(os.path.join(ROOT, "models", name, "config.json")):
            write(name, golden_for(f"models/{name}", list(EMBEDDED_TEXT.encode("utf-8"))))
        else:
            print("skipped", name, "(not trained yet)")


if __name__ == "__main__":
    main()
