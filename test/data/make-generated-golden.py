"""Golden outputs for the checkpoints that test/helpers/generated-fixtures.ts generates.

    node out/test/helpers/generated-fixtures.js /tmp/gen
    /work/venv/bin/python test/data/make-generated-golden.py /tmp/gen

Uses tools/reference/make_golden.golden_for unchanged; only the `checkpoint` field is rewritten
to "generated:<name>" (the test regenerates the checkpoint instead of reading a folder).
"""
import json, os, sys
import torch
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
from make_golden import golden_for  # noqa: E402

torch.set_num_threads(1)
src = os.path.abspath(sys.argv[1])
out_dir = os.path.join(ROOT, "test", "data", "generated-golden")
os.makedirs(out_dir, exist_ok=True)
for name in sorted(os.listdir(src)):
    data = golden_for(os.path.join(src, name))
    data["checkpoint"] = "generated:" + name
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(data, f, separators=(",", ":"))
    print("wrote", name)
