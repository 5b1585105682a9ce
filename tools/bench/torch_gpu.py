"""PyTorch reference on a CUDA GPU for `npm run bench:gpu` (src/bench/gpu.ts).

Runs tools/reference/repo_olmo2.py (numerics untouched) on the GPU: scaled_dot_product_attention,
last-token logits, no inspection outputs -- the speed floor of one forward pass, as mode b of
torch_baselines.py is on the CPU. Once in fp32 and once in fp16 weights and activations.

  torch_gpu.py --checkpoint DIR --ids ids.json [--dtypes fp32,fp16] [--reps 5]

ids.json: a JSON list of token ids. Prints one JSON object: per dtype the cold and warm forward
times (CUDA-synchronised wall clock), peak GPU memory and the last-token logits.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--dtypes", default="fp32,fp16")
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()

    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"status": "skipped", "why": "torch sees no CUDA device"}))
        return
    sys.path.insert(0, REFERENCE)
    import repo_olmo2 as ref

    with open(args.ids) as f:
        ids = json.load(f)
    out = {"status": "ok", "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "T": len(ids), "runs": {}}
    for name in args.dtypes.split(","):
        dtype = {"fp32": torch.float32, "fp16": torch.float16}[name]
        # The reference builds position tensors without a device argument: make CUDA the default.
        torch.set_default_device("cuda")
        try:
            model = ref.load_checkpoint(args.checkpoint, dtype=dtype).to("cuda").eval()
            x = torch.tensor([ids], dtype=torch.long)
            torch.cuda.reset_peak_memory_stats()
            times = []
            last = None
            with torch.inference_mode():
                for _ in range(args.reps + 1):
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    last = model(x, logits_rows="last")["logits"][0, -1].float()
                    torch.cuda.synchronize()
                    times.append(time.perf_counter() - t0)
            out["runs"][name] = {
                "cold_s": times[0],
                "median_s": statistics.median(times[1:]),
                "min_s": min(times[1:]),
                "peak_gpu_bytes": torch.cuda.max_memory_allocated(),
                "last_logits": [float(v) for v in last.cpu().tolist()],
            }
            del model
            torch.cuda.empty_cache()
        except Exception as e:  # report, keep the other dtype
            out["runs"][name] = {"status": "failed", "why": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
        finally:
            torch.set_default_device("cpu")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
