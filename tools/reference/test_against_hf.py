"""With RePo switched off, the reference must agree with stock transformers' Olmo2ForCausalLM.

Run: /path/to/venv/bin/python tools/reference/test_against_hf.py
(also checks YaRN rope scaling and that RePo weights change the output when switched on)."""
import sys, os, torch
sys.path.insert(0, os.path.dirname(__file__))
from repo_olmo2 import RePoConfig, RePoOlmo2
from transformers import Olmo2Config, Olmo2ForCausalLM

def check(rope_scaling=None, T=48):
    torch.manual_seed(0)
    raw = dict(model_type="olmo2", vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
               num_attention_heads=4, num_key_value_heads=4, rms_norm_eps=1e-6, rope_theta=10000.0,
               max_position_embeddings=64, tie_word_embeddings=False, attention_bias=False)
    if rope_scaling:
        raw["rope_scaling"] = rope_scaling
    hf_cfg = Olmo2Config(**raw)
    hf = Olmo2ForCausalLM(hf_cfg).eval()
    ours = RePoOlmo2(RePoConfig.from_dict(raw)).eval()
    missing, unexpected = ours.load_state_dict(hf.state_dict(), strict=False)
    assert not missing and not [u for u in unexpected if "rotary" not in u], (missing, unexpected)
    ids = torch.randint(0, 97, (2, T))
    with torch.no_grad():
        a = hf(ids).logits
        b = ours(ids)["logits"]
    err = (a - b).abs().max().item()
    print(f"rope_scaling={rope_scaling} max |logit diff| = {err:.2e}")
    assert err < 1e-4, err
    return ours, ids

check()
check({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16}, T=60)
check({"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 32, "beta_fast": 16}, T=60)
# RePo switched on changes the output; integer ablation of a RePo model equals plain RoPE on same weights
torch.manual_seed(1)
raw = dict(model_type="olmo2", vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
           num_attention_heads=4, num_key_value_heads=4, rope_theta=10000.0, max_position_embeddings=64,
           pe_config={"dynamic_pe_mode": "swigluex_multihead", "dynmaic_pe_start_layer": 1, "dynmaic_pe_layer_ids": ""})
repo = RePoOlmo2(RePoConfig.from_dict(raw)).eval()
assert RePoConfig.from_dict(raw).repo_layers == [1, 2]
plain_raw = {k: v for k, v in raw.items() if k != "pe_config"}
plain = RePoOlmo2(RePoConfig.from_dict(plain_raw)).eval()
plain.load_state_dict(repo.state_dict(), strict=False)
ids = torch.randint(0, 97, (1, 40))
with torch.no_grad():
    l_repo = repo(ids)["logits"]; l_int = repo(ids, integer_positions=True)["logits"]; l_plain = plain(ids)["logits"]
assert (l_int - l_plain).abs().max() < 1e-5
assert (l_repo - l_plain).abs().max() > 1e-3
print("RePo on/off and integer ablation: ok")
print("all reference checks passed")
