"""Export a training run's latest state as an embedded model, and keep the state for resuming.

    python tools/train/export.py --run /work/train/repo-tiny --name repo-tiny

Writes models/<name>/{config.json, model.safetensors, train_log.jsonl} from <run>/train_state.pt
(the authoritative state: the run may have been stopped in the middle of writing its checkpoint),
and copies the state to tools/train/state/<name>.pt so a later `train.py --resume` (with --out
pointing at a folder holding it as train_state.pt) continues exactly where this run stopped.
"""
import argparse, json, os, shutil, sys
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "reference")]
from repo_olmo2 import RePoConfig, RePoOlmo2, save_checkpoint  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--name", required=True)
    args = ap.parse_args()
    st = torch.load(os.path.join(args.run, "train_state.pt"), weights_only=False)
    cfg = json.load(open(os.path.join(args.run, "config.json")))
    tr = cfg.get("repo_lens_training", {})
    tr.update({"steps": st["step"], "stage_len": st["stage_len"], "wall_s": round(st["wall_s"])})
    cfg["repo_lens_training"] = tr
    model = RePoOlmo2(RePoConfig.from_dict(cfg))
    model.load_state_dict(st["model"])
    out = os.path.join(ROOT, "models", args.name)
    save_checkpoint(model, out)
    with open(os.path.join(args.run, "train_log.jsonl")) as f, open(os.path.join(out, "train_log.jsonl"), "w") as g:
        for line in f:
            if line.strip() and json.loads(line)["step"] <= st["step"]:
                g.write(line)
    os.makedirs(os.path.join(HERE, "state"), exist_ok=True)
    shutil.copyfile(os.path.join(args.run, "train_state.pt"), os.path.join(HERE, "state", args.name + ".pt"))
    print(f"exported {args.name} at step {st['step']} (context stage {st['stage_len']})")


if __name__ == "__main__":
    main()
