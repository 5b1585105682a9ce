"""Train the embedded tiny models (repo-tiny, rope-tiny) from scratch on the synthetic mixture.

Seeded and deterministic for a given --threads; a curriculum doubles the context (128 -> ... -> --max-len)
once exact-match accuracy at the current length passes 80%, then keeps sampling a spread of lengths.
Checkpoints are written in the official RePo-OLMo2 layout every --save-every steps, so the run can be
stopped at any time and the last checkpoint used.

    python tools/train/train.py --kind repo --out models/repo-tiny --steps 3000
    python tools/train/train.py --kind rope --out models/rope-tiny --steps 3000
"""
from __future__ import annotations

import argparse, json, math, os, random, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.dirname(__file__))
from repo_olmo2 import RePoConfig, RePoOlmo2, save_checkpoint  # noqa: E402
from tasks import TASKS  # noqa: E402

VOCAB = 260  # bytes 0..255, 256 <|endoftext|>, 257 <|pad|>, 258..259 reserved
PAD = 257


def tiny_config(kind: str) -> dict:
    cfg = {
        "architectures": ["Olmo2ForCausalLM"],
        "model_type": "olmo2",
        "vocab_size": VOCAB,
        "hidden_size": 128,
        "intermediate_size": 384,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "head_dim": 32,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "max_position_embeddings": 4096,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "tie_word_embeddings": False,
        "eos_token_id": 256,
        "pad_token_id": PAD,
        "torch_dtype": "float32",
        "repo_lens": {"tokenizer": "bytes", "special_tokens": {"<|endoftext|>": 256, "<|pad|>": 257}},
    }
    if kind == "repo":
        cfg["pe_config"] = {"dynamic_pe_mode": "swigluex_multihead", "dynamic_pe_start_layer": 1,
                            "dynamic_pe_layer_ids": "", "dynmaic_pe_start_layer": 1, "dynmaic_pe_layer_ids": ""}
    return cfg


def encode(s: str) -> list[int]:
    return list(s.encode("utf-8"))


def make_batch(rng: random.Random, tasks: list[str], n: int, length: int):
    seqs, spans, q_starts = [], [], []
    for _ in range(n):
        t = rng.choice(tasks)
        p, a = TASKS[t](rng, length)
        ids = encode(p) + encode(a)
        seqs.append(ids)
        spans.append((len(ids) - len(encode(a)), len(ids), t))
        q_starts.append(len(encode(p[:p.rstrip("\n").rindex("\n", 0, len(p) - len("\nAnswer:")) + 1])) if "\n" in p[:-9] else 0)
    T = max(len(s) for s in seqs)
    x = torch.full((n, T), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = torch.tensor(s)
    return x, spans, q_starts


QUESTION_WEIGHT = 0.5  # the final question line: its key is copied from the context (teaches induction early)
CONTEXT_WEIGHT = 0.05  # everything before it: byte statistics and the shape of the records


def answer_loss_and_acc(model, x, spans, q_starts=None):
    """Loss: cross-entropy on the answer tokens, plus small weights on the question line and the rest
    of the text (both are far denser signals than one answer per sample, and the question's key can
    only be predicted by copying it from the context). Accuracy: per-sample exact match of the
    answer (every answer token is the argmax, i.e. greedy decoding reproduces it)."""
    n, T = x.shape
    w = torch.zeros(n, T - 1)
    mask = torch.zeros(n, T - 1, dtype=torch.bool)
    for i, (a, b, _) in enumerate(spans):
        mask[i, a - 1:b - 1] = True
        w[i, :a - 1] = CONTEXT_WEIGHT
        if q_starts is not None:
            w[i, q_starts[i] - 1:a - 1] = QUESTION_WEIGHT
        w[i, a - 1:b - 1] = 1.0
    out = model(x[:, :-1])
    logits = out["logits"]
    tgt = x[:, 1:]
    ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none").view(n, T - 1)
    loss = (ce * w).sum() / mask.sum()
    with torch.no_grad():
        wrong = (logits.argmax(-1) != tgt) & mask
        correct = (~wrong.any(-1)).tolist()
    return loss, correct


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["repo", "rope"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--start-len", type=int, default=128)
    ap.add_argument("--max-len", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--min-stage", type=int, default=0,
                    help="on (re)start, raise the curriculum stage to at least this length: for pushing a run whose "
                         "mixed-task accuracy plateaued below the advance threshold on to longer contexts")
    ap.add_argument("--decay-start", type=int, default=0,
                    help="from this step on, the learning rate falls along a cosine to 10%% of --lr at --steps")
    ap.add_argument("--resume", action="store_true",
                    help="continue from <out>/train_state.pt (model, optimiser, RNG and curriculum state): "
                         "a resumed run takes exactly the steps an uninterrupted one would")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    cfg_raw = tiny_config(args.kind)
    model = RePoOlmo2(RePoConfig.from_dict(cfg_raw))
    with torch.no_grad():  # OLMo-style small init; RePo maps as in the paper (truncated normal, std 0.02)
        for n, p in model.named_parameters():
            if p.dim() == 2:
                torch.nn.init.trunc_normal_(p, std=0.02, a=-0.04, b=0.04)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    os.makedirs(args.out, exist_ok=True)
    state_path = os.path.join(args.out, "train_state.pt")
    cur = args.start_len
    ema = 0.0
    first = 1
    wall_before = 0.0
    if args.resume and os.path.exists(state_path):
        st = torch.load(state_path, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        rng.setstate(st["python_rng"])
        torch.set_rng_state(st["torch_rng"])
        cur, ema, first, wall_before = st["stage_len"], st["ema"], st["step"] + 1, st["wall_s"]
        print(f"resumed at step {first} (context stage {cur})", flush=True)
    phases = []
    if first > 1:  # runs saved before phases were recorded were started with the defaults
        phases = st.get("phases") or [{"from_step": 1, "min_stage": 0, "decay_start": 0, "lr": args.lr}]
    if args.min_stage > cur:
        cur = args.min_stage
        ema = 0.0
    # Each (re)start with its options is kept, so the model card can say exactly how the weights were made.
    phases.append({"from_step": first, "steps": args.steps, "min_stage": args.min_stage,
                   "decay_start": args.decay_start, "lr": args.lr, "threads": args.threads})
    log_path = os.path.join(args.out, "train_log.jsonl")
    if first > 1 and os.path.exists(log_path):
        # Steps logged after the last saved state are taken again: drop their old lines.
        with open(log_path) as f:
            kept = [line for line in f if line.strip() and json.loads(line)["step"] < first]
        with open(log_path, "w") as f:
            f.writelines(kept)
    log = open(log_path, "a")
    t0 = time.time() - wall_before
    tasks = list(TASKS)
    for step in range(first, args.steps + 1):
        lr = args.lr * min(1.0, step / 200)
        if args.decay_start and step >= args.decay_start:
            frac = (step - args.decay_start) / max(1, args.steps - args.decay_start)
            lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
        for g in opt.param_groups:
            g["lr"] = lr
        if cur >= args.max_len and rng.random() < 0.3:
            length = rng.randint(args.start_len, args.max_len)  # keep shorter lengths in the mix
        else:
            length = rng.randint(max(args.start_len, cur // 2), cur)
        bs = max(2, args.batch_tokens // length)
        x, spans, q_starts = make_batch(rng, tasks, bs, length)
        loss, correct = answer_loss_and_acc(model, x, spans, q_starts)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        retrieval = [c for c, (_, _, t) in zip(correct, spans) if t != "reach"]
        acc = sum(retrieval) / max(1, len(retrieval))
        ema = 0.95 * ema + 0.05 * acc
        rec = {"step": step, "len": length, "stage": cur, "loss": round(loss.item(), 4), "acc": round(acc, 3),
               "ema": round(ema, 3), "elapsed_s": round(time.time() - t0, 1)}
        if ema > 0.8 and cur < args.max_len:
            cur *= 2
            ema = 0.0
            rec["advance_to"] = cur
        log.write(json.dumps(rec) + "\n")
        if step % 20 == 0:
            log.flush()
            print(json.dumps(rec), flush=True)
        if step % args.save_every == 0 or step == args.steps:
            cfg_raw["repo_lens_training"] = {"steps": step, "seed": args.seed, "stage_len": cur,
                                             "threads": args.threads, "wall_s": round(time.time() - t0),
                                             "batch_tokens": args.batch_tokens, "lr": args.lr,
                                             "phases": phases}
            model.cfg.raw = cfg_raw
            save_checkpoint(model, args.out)
            tmp = state_path + ".tmp"
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "python_rng": rng.getstate(),
                        "torch_rng": torch.get_rng_state(), "stage_len": cur, "ema": ema, "step": step,
                        "phases": phases,
                        "wall_s": time.time() - t0}, tmp)
            os.replace(tmp, state_path)
    log.close()


if __name__ == "__main__":
    main()
