"""torch's inv_freq / attention factor for several rope configurations, as test/data/rope-golden.json.

    /work/venv/bin/python test/data/make-rope-golden.py test/data/rope-golden.json   # from the repo root

test/checkpoint.test.ts checks that src/engine/checkpoint.ts reproduces these float32 values bit for bit.
"""
import os
import sys, json, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tools', 'reference'))
from repo_olmo2 import RePoConfig, rope_inv_freq
cases = [
 dict(hidden_size=2048, num_attention_heads=16, rope_theta=500000.0, max_position_embeddings=4096),
 dict(hidden_size=2048, num_attention_heads=16, rope_theta=500000.0, max_position_embeddings=4096, rope_scaling={"rope_type":"yarn","factor":2.0,"original_max_position_embeddings":4096}),
 dict(hidden_size=2048, num_attention_heads=16, rope_theta=500000.0, max_position_embeddings=4096, rope_scaling={"rope_type":"yarn","factor":4.0,"original_max_position_embeddings":4096}),
 dict(hidden_size=128, num_attention_heads=4, rope_theta=500000.0, max_position_embeddings=4096),
 dict(hidden_size=64, num_attention_heads=4, rope_theta=500000.0, max_position_embeddings=4096),
 dict(hidden_size=64, num_attention_heads=2, rope_theta=10000.0, max_position_embeddings=256, rope_scaling={"rope_type":"yarn","factor":2.0,"original_max_position_embeddings":128}),
 dict(hidden_size=96, num_attention_heads=4, rope_theta=10000.0, max_position_embeddings=1000, rope_scaling={"type":"yarn","factor":3.0,"original_max_position_embeddings":300,"truncate":False,"beta_fast":16}),
 dict(hidden_size=4096, num_attention_heads=32, rope_theta=500000.0, max_position_embeddings=4096, rope_scaling={"rope_type":"yarn","factor":4.0,"original_max_position_embeddings":4096,"mscale":0.707,"mscale_all_dim":1.0}),
 dict(hidden_size=320, num_attention_heads=4, rope_theta=12345.0, max_position_embeddings=4096),
]
out=[]
for c in cases:
    raw=dict(vocab_size=10, intermediate_size=10, num_hidden_layers=1, num_key_value_heads=c['num_attention_heads'], **c)
    cfg=RePoConfig.from_dict(raw)
    inv, s = rope_inv_freq(cfg)
    out.append(dict(config=raw, invFreqBits=inv.view(torch.int32).tolist(), attentionFactor=s, attentionFactorF32=float(torch.tensor(s,dtype=torch.float32))))
json.dump(out, open(sys.argv[1],'w'))
