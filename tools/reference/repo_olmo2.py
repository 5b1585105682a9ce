"""RePo on OLMo-2, in PyTorch, written from the equations in shared/docs/repo-method.md.

This is the reference the product is checked against (golden data) and the model the tiny
checkpoints are trained with. The product itself never imports it.

Layout and weight names follow Hugging Face `Olmo2ForCausalLM`, so a checkpoint saved from here
is in the official RePo-OLMo2 layout (config.json `model_type: olmo2` + `pe_config`).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------

def _pe_value(pe: dict, name: str):
    """Official code reads the misspelled `dynmaic_*` keys; fall back to the correct spelling."""
    mis = "dynmaic_" + name
    ok = "dynamic_" + name
    if mis in pe:
        return pe[mis]
    return pe.get(ok)


@dataclass
class RePoConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    rms_norm_eps: float = 1e-6
    rope_theta: float = 500000.0
    max_position_embeddings: int = 4096
    rope_scaling: dict | None = None
    pe_mode: str | None = None  # "swigluex_multihead" (RePo), "nope", or None (plain OLMo-2)
    repo_layers: list[int] = field(default_factory=list)
    raw: dict = field(default_factory=dict)

    @property
    def head_dim(self) -> int:
        return self.raw.get("head_dim") or self.hidden_size // self.num_attention_heads

    @property
    def pe_dim(self) -> int:
        return self.hidden_size // 8

    @staticmethod
    def from_dict(cfg: dict) -> "RePoConfig":
        pe = cfg.get("pe_config") or {}
        mode = pe.get("dynamic_pe_mode") or pe.get("dynmaic_pe_mode")
        n_layers = cfg["num_hidden_layers"]
        repo_layers: list[int] = []
        if mode:
            start = _pe_value(pe, "pe_start_layer")
            start = 0 if start is None else int(start)
            ids = _pe_value(pe, "pe_layer_ids")
            if ids is None or str(ids).strip() == "":
                repo_layers = list(range(start, n_layers))
            else:
                repo_layers = sorted(int(s) for s in str(ids).split(",") if s.strip() != "")
        rope_scaling = cfg.get("rope_scaling")
        if rope_scaling is None and isinstance(cfg.get("rope_parameters"), dict):
            rp = cfg["rope_parameters"]
            if rp.get("rope_type", "default") != "default":
                rope_scaling = rp
        return RePoConfig(
            vocab_size=cfg["vocab_size"],
            hidden_size=cfg["hidden_size"],
            intermediate_size=cfg["intermediate_size"],
            num_hidden_layers=n_layers,
            num_attention_heads=cfg["num_attention_heads"],
            num_key_value_heads=cfg.get("num_key_value_heads") or cfg["num_attention_heads"],
            rms_norm_eps=cfg.get("rms_norm_eps", 1e-6),
            rope_theta=cfg.get("rope_theta", (cfg.get("rope_parameters") or {}).get("rope_theta", 500000.0)),
            max_position_embeddings=cfg.get("max_position_embeddings", 4096),
            rope_scaling=rope_scaling,
            pe_mode=mode,
            repo_layers=repo_layers,
            raw=cfg,
        )


def rope_inv_freq(cfg: RePoConfig) -> tuple[torch.Tensor, float]:
    """inv_freq (fp32, head_dim/2) and the cos/sin scaling factor, as Hugging Face computes them
    for the default and the YaRN rope types."""
    dim = cfg.head_dim
    base = float(cfg.rope_theta)
    pos_freqs = base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)
    inv_freq = 1.0 / pos_freqs
    rs = cfg.rope_scaling
    rtype = None if rs is None else (rs.get("rope_type") or rs.get("type"))
    if rtype is None or rtype == "default":
        return inv_freq, 1.0
    if rtype != "yarn":
        raise ValueError(f"unsupported rope_scaling type {rtype!r}")
    factor = rs.get("factor")
    orig = rs.get("original_max_position_embeddings") or cfg.max_position_embeddings
    if factor is None:
        factor = cfg.max_position_embeddings / orig
    attention_factor = rs.get("attention_factor")
    mscale = rs.get("mscale")
    mscale_all_dim = rs.get("mscale_all_dim")

    def get_mscale(scale, m=1.0):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = float(get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim))
        else:
            attention_factor = get_mscale(factor)
    beta_fast = rs.get("beta_fast") or 32
    beta_slow = rs.get("beta_slow") or 1

    def corr_dim(num_rot):
        return (dim * math.log(orig / (num_rot * 2 * math.pi))) / (2 * math.log(base))

    low, high = corr_dim(beta_fast), corr_dim(beta_slow)
    if rs.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    extra_factor = 1 - ramp
    inv_interp = 1.0 / (factor * pos_freqs)
    inv_freq = inv_interp * (1 - extra_factor) + inv_freq * extra_factor
    return inv_freq, float(attention_factor)


# ----------------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (self.weight * x).to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: RePoConfig, layer_idx: int):
        super().__init__()
        d, H, D = cfg.hidden_size, cfg.num_attention_heads, cfg.head_dim
        if cfg.num_key_value_heads != H:
            raise ValueError("RePo rotates each head's keys by its own positions: needs num_key_value_heads == num_attention_heads")
        self.H, self.D = H, D
        self.q_proj = nn.Linear(d, H * D, bias=False)
        self.k_proj = nn.Linear(d, H * D, bias=False)
        self.v_proj = nn.Linear(d, H * D, bias=False)
        self.o_proj = nn.Linear(H * D, d, bias=False)
        self.q_norm = RMSNorm(H * D, cfg.rms_norm_eps)
        self.k_norm = RMSNorm(H * D, cfg.rms_norm_eps)
        self.is_repo = layer_idx in cfg.repo_layers
        self.mode = cfg.pe_mode if self.is_repo else None
        if self.is_repo and self.mode != "nope":
            dp = cfg.pe_dim
            self.gate_map = nn.Linear(d, dp, bias=False)
            self.content_map = nn.Linear(d, dp, bias=False)
            self.final_map = nn.Linear(dp, H, bias=False)

    def positions(self, h):
        """Learned positions z: [B, H, T] (fp32)."""
        r = F.silu(self.gate_map(h)) * self.content_map(h)
        return self.final_map(r).transpose(1, 2).float()

    def forward(self, h, inv_freq, attn_scale, integer_positions=False, query_rows=None):
        B, T, _ = h.shape
        q = self.q_norm(self.q_proj(h)).view(B, T, self.H, self.D).transpose(1, 2)
        k = self.k_norm(self.k_proj(h)).view(B, T, self.H, self.D).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.H, self.D).transpose(1, 2)
        z = None
        rotate = True
        if self.is_repo and self.mode == "nope":
            rotate = False
        if rotate:
            if self.is_repo:
                z = self.positions(h)  # [B, H, T]
                pos = z if not integer_positions else torch.arange(T, dtype=torch.float32).expand(B, self.H, T)
            else:
                pos = torch.arange(T, dtype=torch.float32).expand(B, self.H, T)
            ang = pos[..., None] * inv_freq  # [B, H, T, D/2] fp32
            emb = torch.cat((ang, ang), dim=-1)
            cos = (emb.cos() * attn_scale).to(q.dtype)
            sin = (emb.sin() * attn_scale).to(q.dtype)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        probs = None
        if query_rows is not None:
            qs = q[:, :, query_rows, :]  # [B, H, Q, D]
            s = (qs.float() @ k.float().transpose(-1, -2)) / math.sqrt(self.D)
            mask = torch.arange(T)[None, :] > torch.as_tensor(query_rows)[:, None]
            s = s.masked_fill(mask, float("-inf"))
            probs = torch.softmax(s, dim=-1)
        o = o.transpose(1, 2).reshape(B, T, self.H * self.D)
        return self.o_proj(o), z, probs


class MLP(nn.Module):
    def __init__(self, cfg: RePoConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg: RePoConfig, idx: int):
        super().__init__()
        self.self_attn = Attention(cfg, idx)
        self.mlp = MLP(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_feedforward_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, h, inv_freq, attn_scale, integer_positions=False, query_rows=None):
        a, z, probs = self.self_attn(h, inv_freq, attn_scale, integer_positions, query_rows)
        h = h + self.post_attention_layernorm(a)
        h = h + self.post_feedforward_layernorm(self.mlp(h))
        return h, z, probs


class Inner(nn.Module):
    def __init__(self, cfg: RePoConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([Layer(cfg, i) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class RePoOlmo2(nn.Module):
    """Weight names match Hugging Face Olmo2ForCausalLM (+ RePo's gate_map/content_map/final_map)."""

    def __init__(self, cfg: RePoConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Inner(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        inv_freq, scale = rope_inv_freq(cfg)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.attn_scale = scale

    def forward(self, ids, integer_positions=False, query_rows=None, logits_rows="all"):
        """ids [B, T]. Returns dict with hidden, logits, positions (list per RePo layer of [B,H,T])
        and attention (list per layer of [B,H,Q,T]) when query_rows is given."""
        h = self.model.embed_tokens(ids)
        positions, attn = [], []
        for layer in self.model.layers:
            h, z, probs = layer(h, self.inv_freq, self.attn_scale, integer_positions, query_rows)
            if layer.self_attn.is_repo:
                if z is None:  # nope mode: no positions; report zeros so shapes stay regular
                    z = torch.zeros(h.shape[0], layer.self_attn.H, h.shape[1])
                elif integer_positions:
                    z = torch.arange(h.shape[1], dtype=torch.float32).expand_as(z)
                positions.append(z)
            if probs is not None:
                attn.append(probs)
        h = self.model.norm(h)
        if logits_rows == "last":
            logits = self.lm_head(h[:, -1:, :])
        else:
            logits = self.lm_head(h)
        return {"logits": logits, "positions": positions, "attention": attn, "hidden": h}


# ----------------------------------------------------------------------------------------------
# Checkpoint I/O in the official layout
# ----------------------------------------------------------------------------------------------

def load_checkpoint(folder: str, dtype=torch.float32) -> RePoOlmo2:
    from safetensors.torch import load_file

    with open(os.path.join(folder, "config.json")) as f:
        cfg = RePoConfig.from_dict(json.load(f))
    model = RePoOlmo2(cfg)
    idx = os.path.join(folder, "model.safetensors.index.json")
    state = {}
    if os.path.exists(idx):
        with open(idx) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        for s in shards:
            state.update(load_file(os.path.join(folder, s)))
    else:
        state = load_file(os.path.join(folder, "model.safetensors"))
    state = {k: v.to(dtype) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint mismatch: missing={missing} unexpected={unexpected}")
    return model.to(dtype)


def save_checkpoint(model: RePoOlmo2, folder: str, dtype=torch.float32, shards: int = 1):
    from safetensors.torch import save_file

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(model.cfg.raw, f, indent=2)
        f.write("\n")
    state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    if shards == 1:
        save_file(state, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        return
    names = list(state.keys())
    per = math.ceil(len(names) / shards)
    weight_map = {}
    total = 0
    for i in range(shards):
        part = names[i * per:(i + 1) * per]
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: state[n] for n in part}, os.path.join(folder, fname), metadata={"format": "pt"})
        for n in part:
            weight_map[n] = fname
            total += state[n].numel() * state[n].element_size()
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
        f.write("\n")
