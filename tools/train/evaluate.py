"""Held-out evaluation of the embedded models, for their model cards.

    python tools/train/evaluate.py --models models/repo-tiny models/rope-tiny --n 40 --out tools/train/eval.json

Exact match: the greedy answer equals the reference (every answer token is the argmax after the
teacher-forced prefix, which is the same thing for greedy decoding). Held-out: samples come from a
seed range the training script never uses.

Needle attention mass (the product's definition, docs/analysis.md): for RULER-style needle samples,
query rows = the tokens of the question line and the "Answer:" line; needle = the tokens of the
needle sentence for the asked key; mass[l][h] = sum over needle tokens of the mean over query rows
of the causal softmax attention. Reported: the mean over all layers and heads, the mean over the
RePo layers (the layers >= the RePo start layer, for both models so they compare like for like),
and the largest single head.
"""
import argparse, json, os, random, sys, time
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "reference")]
from repo_olmo2 import load_checkpoint  # noqa: E402
from tasks import TASKS, needle  # noqa: E402
from train import make_batch, answer_loss_and_acc, encode  # noqa: E402

LENGTHS = [512, 1024, 2048, 4096]


@torch.no_grad()
def exact_match(model, length, n, seed=0):
    res = {}
    for t in TASKS:
        rng = random.Random(10_000_000 + seed * 7919 + length * 31 + sum(map(ord, t)))
        ok = 0
        for _ in range(n):
            x, spans, _ = make_batch(rng, [t], 1, length)
            _, c = answer_loss_and_acc(model, x, spans)
            ok += c[0]
        res[t] = ok / n
    return res


@torch.no_grad()
def needle_mass(model, length, n, seed=1, integer=False):
    rng = random.Random(20_000_000 + seed * 7919 + length)
    L = model.cfg.num_hidden_layers
    acc = None
    for _ in range(n):
        prompt, _ = needle(rng, length)
        q_start = prompt.rindex("\nWhat is the special magic number for ") + 1
        key = prompt[q_start:].split("for ", 1)[1].split("?", 1)[0]
        n_start = prompt.index(f"The special magic number for {key} is ")
        n_end = prompt.index(".", n_start + 30) + 1
        # byte offsets == char offsets: the synthetic text is ASCII
        ids = encode(prompt)
        rows = list(range(q_start, len(ids)))
        out = model(torch.tensor([ids]), integer_positions=integer, query_rows=rows, logits_rows="last")
        att = torch.stack([a[0] for a in out["attention"]])  # [L, H, Q, T]
        mass = att.mean(2)[..., n_start:n_end].sum(-1)  # [L, H]
        acc = mass if acc is None else acc + mass
    return acc / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--n-mass", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for folder in args.models:
        name = os.path.basename(os.path.normpath(folder))
        model = load_checkpoint(folder).eval()
        start = min(model.cfg.repo_layers) if model.cfg.repo_layers else 1
        r = {"exact_match": {}, "needle_mass": {}}
        t0 = time.time()
        for length in LENGTHS:
            r["exact_match"][str(length)] = exact_match(model, length, args.n)
            m = needle_mass(model, length, args.n_mass)
            r["needle_mass"][str(length)] = {
                "mean_all_heads": round(m.mean().item(), 4),
                "mean_from_layer_%d" % start: round(m[start:].mean().item(), 4),
                "max_head": round(m.max().item(), 4),
            }
            if model.cfg.repo_layers:
                mi = needle_mass(model, length, args.n_mass, integer=True)
                r["needle_mass"][str(length)]["integer_ablation_mean_from_layer_%d" % start] = round(mi[start:].mean().item(), 4)
            print(name, length, r["exact_match"][str(length)], r["needle_mass"][str(length)], flush=True)
        r["eval_wall_s"] = round(time.time() - t0)
        r["n_per_task"] = args.n
        r["n_mass"] = args.n_mass
        results[name] = r
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
