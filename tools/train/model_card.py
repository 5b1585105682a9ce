"""Render models/<name>/MODEL_CARD.md from the measured evaluation (tools/train/eval.json) and the
training log, so every number in a card comes from a run, not from hand-editing.

    python tools/train/model_card.py --eval tools/train/eval.json
"""
import argparse, json, os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LENGTHS = ["512", "1024", "2048", "4096"]
TASK_NAMES = {"needle": "needle in noise (RULER-style)", "kv": "key-value retrieval",
              "table": "table lookup (markdown/CSV)", "reach": "reachability (edge list, yes/no)"}


def fmt_pct(x):
    return f"{100 * x:.0f}%"


def side_by_side(ev):
    names = list(ev)
    head = "| task | " + " | ".join(f"{L} {n}" for L in LENGTHS for n in names) + " |"
    lines = [head, "|---|" + "---:|" * (len(LENGTHS) * len(names))]
    for t in TASK_NAMES:
        cells = [fmt_pct(ev[n]["exact_match"][L][t]) for L in LENGTHS for n in names]
        lines.append(f"| {TASK_NAMES[t]} | " + " | ".join(cells) + " |")
    lines += ["", "Needle attention mass (see docs/analysis.md; mean over the layers from the RePo start layer and all heads; in brackets the largest single head):", "",
              "| length | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for L in LENGTHS:
        cells = []
        for n in names:
            m = ev[n]["needle_mass"][L]
            key = [k for k in m if k.startswith("mean_from_layer_")][0]
            cell = f"{m[key]:.3f} ({m['max_head']:.3f})"
            ik = [k for k in m if k.startswith("integer_ablation")]
            if ik:
                cell += f"; integer-position ablation {m[ik[0]]:.3f}"
            cells.append(cell)
        lines.append(f"| {L} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True)
    args = ap.parse_args()
    ev = json.load(open(args.eval))
    table = side_by_side(ev)
    for name in ev:
        folder = os.path.join(ROOT, "models", name)
        cfg = json.load(open(os.path.join(folder, "config.json")))
        tr = cfg.get("repo_lens_training", {})
        repo = "pe_config" in cfg
        kind = "repo" if repo else "rope"
        other = "rope-tiny" if repo else "repo-tiny"
        size = os.path.getsize(os.path.join(folder, "model.safetensors"))
        arch = (f"OLMo-2 layout, {cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, {cfg['num_attention_heads']} heads "
                f"(head_dim {cfg['head_dim']}), SwiGLU {cfg['intermediate_size']}, post-norm, QK-norm, RMSNorm eps {cfg['rms_norm_eps']}, "
                f"rope_theta {cfg['rope_theta']:g}, untied embeddings, vocab {cfg['vocab_size']} (256 bytes + specials).")
        pe = ("RePo (`swigluex_multihead`) in layers "
              f"{cfg['pe_config']['dynamic_pe_start_layer']}..{cfg['num_hidden_layers'] - 1}: each token gets one learned position per head, "
              "integer RoPE below." if repo else "Integer RoPE in every layer: identical to repo-tiny except for the RePo modules, "
              "trained by the same script with the same seed and data stream.")
        phases = tr.get("phases") or []
        phase_text = ""
        if len(phases) > 1:
            parts = []
            for i, ph in enumerate(phases):
                last = phases[i + 1]["from_step"] - 1 if i + 1 < len(phases) else tr.get("steps")
                what = [f"context stage raised to at least {ph['min_stage']}" if ph.get("min_stage") else "",
                        f"cosine learning-rate decay to 10% from step {ph['decay_start']} to {ph.get('steps')}" if ph.get("decay_start") else ""]
                parts.append(f"steps {ph['from_step']}–{last}: " + (", ".join(x for x in what if x) or "the defaults"))
            phase_text = ("\nThe run was resumed in phases, each recorded in config.json (`repo_lens_training.phases`): "
                          + "; ".join(parts) + ". Resume options: `--min-stage N` raises the context stage (used when the "
                          "mixed-task accuracy plateaued below the 80% advance threshold while the needle task was well above it), "
                          "`--decay-start S` decays the learning rate from step S to `--steps`.")
        text = f"""# {name}

An embedded model of RePo Lens, trained from scratch on synthetic data to show what RePo does on the
kinds of prompts the product is for. It is a toy: byte-level, {size / 1e6:.1f} MB, no natural-language ability
beyond its four tasks. Its twin `{other}` differs only in {'having no RePo modules' if repo else 'its RePo modules'}.

## Architecture
- {arch}
- {pe}
- Saved in the official RePo-OLMo2 checkpoint layout (`config.json` with `model_type: olmo2`{' + `pe_config`' if repo else ''}, `model.safetensors` with Hugging Face weight names), so the same converter serves it and the official model.
- Tokenizer: UTF-8 bytes, one token per byte (ids 0..255); `<|endoftext|>` = 256 and `<|pad|>` = 257 are never produced from text. No BOS.

## Data
A synthetic mixture (tools/train/tasks.py), one question at the end of each sample: needles in noisy filler
("The special magic number for X is N.", with up to 1 + length/512 keys, at most 4, so short samples teach copying
before longer ones demand matching the key), key-value retrieval, lookups in markdown and CSV tables
("What is the <column> of <row>?"), and reachability over edge lists (yes/no). Loss: cross-entropy on the answer
tokens, plus weight 0.5 on the question line (its key can only be predicted by copying it from the context) and
0.05 on the rest of the text.

## Training
`python tools/train/train.py --kind {kind} --out models/{name} --steps {tr.get('steps')}` (seed {tr.get('seed')}, {tr.get('threads')} CPU thread;
AdamW lr {tr.get('lr')}, 200 warm-up steps, {tr.get('batch_tokens')} tokens per batch). Curriculum: context 128 tokens,
doubling whenever the running exact-match accuracy on the three retrieval tasks passes 80%, up to 2048; at the top stage 30% of batches
draw any length from 128 to 2048. Stopped at step {tr.get('steps')} (context stage {tr.get('stage_len')}) after {tr.get('wall_s', 0) / 60:.0f} minutes
on one core of a 2-core machine shared with a second training run.{phase_text}
The run's full state (weights, optimiser, RNG, curriculum) is kept in `tools/train/state/{name}.pt`: copy it to
`<out>/train_state.pt` and run the same command with a larger `--steps` and `--resume` to continue exactly where it stopped,
then `python tools/train/export.py --run <out> --name {name}`.

## Measured (held-out samples, {ev[name]['n_per_task']} per task and length; tools/train/evaluate.py)
Exact match, both embedded models side by side:

{table}

Reproduce: `python tools/train/evaluate.py --models models/repo-tiny models/rope-tiny --out tools/train/eval.json`
then `python tools/train/model_card.py --eval tools/train/eval.json`.
"""
        with open(os.path.join(folder, "MODEL_CARD.md"), "w") as f:
            f.write(text)
        print("wrote", os.path.join("models", name, "MODEL_CARD.md"))


if __name__ == "__main__":
    main()
