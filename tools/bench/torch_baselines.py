"""PyTorch baselines for `npm run bench` (src/bench/run.ts), on the same weights and tokens.

Two ways of running the same RePo-OLMo2 forward pass (tools/reference/repo_olmo2.py, whose numerics
are left untouched):

  a  "inspect today": eager attention that materialises and returns the full softmax attention of
     every layer, [1, H, T, T] each, plus logits for every row. This is what Hugging Face's
     `output_attentions=True` does (it forces the eager attention path), and what BertViz and
     TransformerLens-style inspection rely on.
  b  "plain fused inference": the reference as is (scaled_dot_product_attention, is_causal), logits
     for the last token only, no inspection outputs: the speed floor of one forward pass.

Usage (driver):
  torch_baselines.py --checkpoint DIR --tokens tokens.json --threads N [--modes a,b]
                     [--time-limit 120] [--mem-limit-gb 8] [--reps 3] [--budget-s 20] [--out FILE]
tokens.json: {"runs": [{"T": 512, "ids": [...]}, ...]}. Prints one JSON object (also to --out).

Every (mode, T) runs in its own child process (peak RSS per run, and a crash or a kill stays
there). Guards, so a run reports "out of memory/time" instead of taking the machine down:
  - before starting: mode a's attention tensors are estimated ((L+2)·H·T²·4 bytes and the T×T mask);
    over --mem-limit-gb it is skipped. A size whose predicted time (previous size's time scaled by
    T²) exceeds --time-limit is skipped, and so is every size above one that already failed;
  - inside the child: a watchdog thread exits the process when its RSS passes the limit or one
    forward pass runs past --time-limit, and RLIMIT_AS caps the address space so a big allocation
    fails with an error instead of paging;
  - outside: the child is killed if it is still running at time limit + budget + 60 s.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "reference")

EXIT_OOM = 86
EXIT_TIME = 87


def vm_status(field: str) -> int:
    """A /proc/self/status field (kB values) in bytes; 0 where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ----------------------------------------------------------------------------------------------
# Child: one mode at one length
# ----------------------------------------------------------------------------------------------

def child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (cannot happen in a fresh process, but harmless)
    sys.path.insert(0, REFERENCE)
    import repo_olmo2 as ref

    with open(args.ids_file) as f:
        ids = json.load(f)
    T = len(ids)
    mem_limit = int(args.mem_limit_gb * 2**30)
    state = {"pass_started": None}

    def watchdog():
        # Checked often enough that a runaway allocation is caught within ~10 MB/ms of growth.
        while True:
            time.sleep(0.01)
            if vm_status("VmRSS") > mem_limit:
                emit({"status": "oom", "why": f"RSS passed {args.mem_limit_gb:g} GB (watchdog)"})
                os._exit(EXIT_OOM)
            started = state["pass_started"]
            if started is not None and time.perf_counter() - started > args.time_limit:
                emit({"status": "timeout", "why": f"one forward pass ran past {args.time_limit:g} s"})
                os._exit(EXIT_TIME)

    def emit(obj):
        obj.update({"mode": args.child, "T": T, "peak_rss_bytes": vm_status("VmHWM")})
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    model = ref.load_checkpoint(args.checkpoint).eval()
    kept: list = []  # mode a: the per-layer attention probabilities a caller would receive

    if args.child == "a":
        import torch.nn.functional as F

        class EagerF:
            """Stands in for torch.nn.functional inside the reference module only: every other
            function is the real one; scaled_dot_product_attention becomes Hugging Face's eager
            attention (scores, additive causal mask, fp32 softmax, probs @ v), keeping the probs."""

            def __getattr__(self, name):
                return getattr(F, name)

            @staticmethod
            def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
                Tq, Tk = q.shape[-2], k.shape[-2]
                scores = torch.matmul(q, k.transpose(-1, -2)) * (scale if scale is not None else q.shape[-1] ** -0.5)
                if is_causal:
                    mask = torch.full((Tq, Tk), float("-inf"), dtype=scores.dtype).triu(1)
                    scores = scores + mask
                probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
                kept.append(probs)
                return torch.matmul(probs, v)

        ref.F = EagerF()

    x = torch.tensor([ids], dtype=torch.long)
    logits_rows = "all" if args.child == "a" else "last"

    def forward():
        kept.clear()
        out = model(x, logits_rows=logits_rows)
        # Mode a hands the caller every layer's [1,H,T,T] probabilities; they are alive here.
        assert args.child != "a" or len(kept) == len(model.model.layers)
        return out["logits"][0, -1].float()

    with torch.inference_mode():
        # Warm the thread pool and allocator on a short prefix (not timed), then fix the memory cap.
        model(x[:, : min(T, 64)], logits_rows=logits_rows)
        kept.clear()
        try:
            import resource

            cap = vm_status("VmSize") + mem_limit
            if cap > 0:
                resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        except (ImportError, ValueError, OSError):
            pass
        threading.Thread(target=watchdog, daemon=True).start()

        times = []
        last = None
        t_start = time.perf_counter()
        try:
            while True:
                state["pass_started"] = time.perf_counter()
                last = forward()
                times.append(time.perf_counter() - state["pass_started"])
                state["pass_started"] = None
                elapsed = time.perf_counter() - t_start
                # The first pass in a process is a cold one; keep going up to reps+1 passes while
                # the budget allows another pass of the same length.
                if len(times) >= args.reps + 1 or elapsed + times[-1] > args.budget_s:
                    break
        except (RuntimeError, MemoryError) as e:
            msg = str(e).split("\n")[0]
            if "alloc" in msg.lower() or isinstance(e, MemoryError):
                emit({"status": "oom", "why": f"allocation failed: {msg[:200]}"})
                os._exit(EXIT_OOM)
            raise
    warm = times[1:] if len(times) > 1 else times
    emit({
        "status": "ok",
        "times_s": times,
        "median_s": statistics.median(warm),
        "min_s": min(warm),
        "last_logits": [float(v) for v in last.tolist()],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "attention_probs_bytes": sum(p.numel() * p.element_size() for p in kept) if kept else 0,
    })
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown of big tensors


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------

def estimate_a_bytes(cfg: dict, T: int) -> int:
    """Mode a's attention memory: L kept [H,T,T] prob tensors, plus the live layer's scores and
    scores+mask (2 more), the T×T mask, and all-row logits; fp32."""
    L, H, V = cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["vocab_size"]
    return 4 * ((L + 2) * H * T * T + T * T + T * V)


def run_child(args, mode: str, T: int, ids_file: str) -> dict:
    cmd = [
        sys.executable, os.path.abspath(__file__), "--child", mode,
        "--checkpoint", args.checkpoint, "--ids-file", ids_file, "--threads", str(args.threads),
        "--time-limit", str(args.time_limit), "--mem-limit-gb", str(args.mem_limit_gb),
        "--reps", str(args.reps), "--budget-s", str(args.budget_s),
    ]
    hard = args.time_limit + args.budget_s + 60
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=hard)
    except subprocess.TimeoutExpired:
        return {"mode": mode, "T": T, "status": "timeout", "why": f"killed after {hard:g} s"}
    wall = time.perf_counter() - t0
    line = next((l for l in reversed(p.stdout.splitlines()) if l.startswith("{")), None)
    if line is not None:
        res = json.loads(line)
        res["process_wall_s"] = wall
        return res
    if p.returncode in (-9, 137):
        return {"mode": mode, "T": T, "status": "oom", "why": "killed by the system (SIGKILL), probably out of memory"}
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
    return {"mode": mode, "T": T, "status": "error", "why": f"exit {p.returncode}: {tail[:300]}"}


def driver(args) -> None:
    with open(args.tokens) as f:
        runs = sorted(json.load(f)["runs"], key=lambda r: r["T"])
    with open(os.path.join(args.checkpoint, "config.json")) as f:
        cfg = json.load(f)
    modes = [m for m in args.modes.split(",") if m]
    info = {"python": sys.version.split()[0], "executable": sys.executable, "threads": args.threads,
            "time_limit_s": args.time_limit, "mem_limit_gb": args.mem_limit_gb}
    try:
        import torch

        info["torch"] = torch.__version__
        sys.path.insert(0, REFERENCE)
        import repo_olmo2  # noqa: F401  (fails early if safetensors etc. are missing)
        import safetensors  # noqa: F401
    except ImportError as e:
        out = {"status": "skipped", "why": f"{sys.executable}: {e}", "info": info, "results": []}
        finish(args, out)
        return

    results = []
    tmpdir = os.path.dirname(os.path.abspath(args.tokens))
    last_ok: dict[str, tuple[int, float]] = {}
    failed_at: dict[str, int] = {}
    for run in runs:
        T, ids = run["T"], run["ids"]
        ids_file = os.path.join(tmpdir, f"ids-{T}.json")
        with open(ids_file, "w") as f:
            json.dump(ids, f)
        for mode in modes:
            res = None
            if mode in failed_at:
                res = {"status": "skipped", "why": f"already out of memory/time at T={failed_at[mode]}"}
            elif mode == "a" and estimate_a_bytes(cfg, len(ids)) > args.mem_limit_gb * 2**30:
                est = estimate_a_bytes(cfg, len(ids)) / 2**30
                res = {"status": "oom", "why": f"skipped: attention probabilities need ~{est:.1f} GB > {args.mem_limit_gb:g} GB",
                       "estimated": True}
            elif mode in last_ok:
                T0, t0 = last_ok[mode]
                predicted = t0 * (len(ids) / T0) ** 2
                if predicted > args.time_limit:
                    res = {"status": "timeout", "why": f"skipped: predicted {predicted:.0f} s per pass > {args.time_limit:g} s",
                           "estimated": True}
            if res is None:
                res = run_child(args, mode, len(ids), ids_file)
            res.setdefault("mode", mode)
            res.setdefault("T", len(ids))
            if res["status"] == "ok":
                last_ok[mode] = (len(ids), res["median_s"])
            elif res["status"] in ("oom", "timeout") and not res.get("estimated"):
                failed_at[mode] = len(ids)
            results.append(res)
            shown = f"{res['median_s'] * 1000:.0f} ms" if res["status"] == "ok" else f"{res['status']}: {res.get('why', '')}"
            print(f"  torch ({mode}) T={len(ids):>6}: {shown}", file=sys.stderr, flush=True)
    finish(args, {"status": "ok", "info": info, "results": results})


def finish(args, out: dict) -> None:
    text = json.dumps(out)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    sys.stdout.write(text + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--tokens", help="JSON {runs: [{T, ids}]} (driver)")
    p.add_argument("--ids-file", help="JSON list of ids (child)")
    p.add_argument("--child", choices=["a", "b"], help=argparse.SUPPRESS)
    p.add_argument("--modes", default="a,b")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--time-limit", type=float, default=120.0, help="seconds per forward pass")
    p.add_argument("--mem-limit-gb", type=float, default=8.0)
    p.add_argument("--reps", type=int, default=3, help="timed passes after the first (cold) one")
    p.add_argument("--budget-s", type=float, default=20.0, help="stop repeating after this long")
    p.add_argument("--out")
    args = p.parse_args()
    if args.child:
        child(args)
    else:
        if not args.tokens:
            p.error("--tokens is required")
        driver(args)


if __name__ == "__main__":
    main()
