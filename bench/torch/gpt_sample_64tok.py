"""PyTorch eager figure for bench/cases/gpt_sample_64tok.ts: sample 64 codes for 16 labels with a
KV cache and classifier-free guidance (32 rows per step), top-k 100, on a small LlamaGen-style GPT
(dim 256, 4 layers, 4 heads, SwiGLU hidden 768, vocabulary 512, 8x8 grid).

Written op for op like src/generators/gpt.ts + gpt_sample.ts (cache written at the step's position
and attended over the filled part only, q and k rotated together), so the two figures time the same
work. Prints the median milliseconds per generation."""

import math
import statistics
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
WARMUP, REPEATS = 1, 5
D, L, H, V, N, C, HID = 256, 4, 4, 512, 64, 10, 768
DH = D // H
g = torch.Generator().manual_seed(0)


def normal(*shape):
    return torch.randn(*shape, generator=g) * 0.02


W = {
    "cls": normal(C + 1, D),
    "tok": normal(V, D),
    "norm": torch.ones(D),
    "out": normal(V, D),
    "layers": [
        dict(wqkv=normal(3 * D, D), wo=normal(D, D), w1=normal(HID, D), w3=normal(HID, D), w2=normal(D, HID), an=torch.ones(D), fn=torch.ones(D))
        for _ in range(L)
    ],
}


def rope_tables(grid, dh, base, prefix):
    half = dh // 2
    inv = 1.0 / (base ** (torch.arange(0, half, 2, dtype=torch.float32) / half))
    f = torch.outer(torch.arange(grid, dtype=torch.float32), inv)
    q = half // 2
    ang = torch.cat([f.view(grid, 1, q).expand(grid, grid, q), f.view(1, grid, q).expand(grid, grid, q)], -1).reshape(grid * grid, half)
    pairs = lambda a, b: torch.stack([a, b], -1).reshape(grid * grid, 1, dh)
    z = torch.zeros(prefix, 1, dh)
    return torch.cat([z, pairs(ang.cos(), ang.cos())]), torch.cat([z, pairs(-ang.sin(), ang.sin())])


COS, SIN = rope_tables(8, DH, 10000, 1)


def apply_rope(x, cos, sin):
    shape = x.shape
    swapped = x.reshape(*shape[:-1], DH // 2, 2).flip(-1).view(shape)
    return x * cos + swapped * sin


def attention(p, x, cos, sin, cache, start):
    B, T, _ = x.shape
    qkv = F.linear(x, p["wqkv"]).view(B, T, 3 * H, DH)
    qk = apply_rope(qkv.narrow(2, 0, 2 * H), cos, sin)
    q = qk.narrow(2, 0, H).transpose(1, 2)
    k = qk.narrow(2, H, H).transpose(1, 2)
    v = qkv.narrow(2, 2 * H, H).transpose(1, 2)
    kc, vc = cache
    kc.narrow(2, start, T).copy_(k)
    vc.narrow(2, start, T).copy_(v)
    out = F.scaled_dot_product_attention(q, kc.narrow(2, 0, start + T), vc.narrow(2, 0, start + T), is_causal=start == 0 and T > 1)
    return F.linear(out.transpose(1, 2).reshape(B, T, D), p["wo"])


def blocks(h, start, caches):
    T = h.shape[1]
    cos, sin = COS.narrow(0, start, T), SIN.narrow(0, start, T)
    for p, cache in zip(W["layers"], caches):
        h = h + attention(p, F.rms_norm(h, [D], p["an"], 1e-5), cos, sin, cache, start)
        x = F.rms_norm(h, [D], p["fn"], 1e-5)
        h = h + F.linear(F.silu(F.linear(x, p["w1"])) * F.linear(x, p["w3"]), p["w2"])
    T = h.shape[1]
    return F.linear(F.rms_norm(h.narrow(1, T - 1, 1), [D], W["norm"], 1e-5), W["out"]).float().squeeze(1)


def pick(logits, B, scale, top_k, gen):
    cond, uncond = logits.chunk(2, 0)
    l = (uncond + (cond - uncond) * scale) / max(1.0, 1e-5)
    kth = l.topk(top_k, -1)[0].narrow(-1, top_k - 1, 1)
    l = l.masked_fill(l < kth, -math.inf)
    return torch.multinomial(l.softmax(-1), 1, False, generator=gen)


@torch.no_grad()
def generate(labels, scale, top_k, gen):
    B = labels.shape[0]
    cond = torch.cat([labels, torch.full_like(labels, C)])
    caches = [(torch.zeros(2 * B, H, 1 + N, DH), torch.zeros(2 * B, H, 1 + N, DH)) for _ in range(L)]
    codes = [pick(blocks(F.embedding(cond, W["cls"]).unsqueeze(1), 0, caches), B, scale, top_k, gen)]
    for i in range(N - 1):
        x = torch.cat([codes[i], codes[i]])
        codes.append(pick(blocks(F.embedding(x, W["tok"]), 1 + i, caches), B, scale, top_k, gen))
    return torch.cat(codes, 1)


labels = torch.arange(16) % 10
times = []
for i in range(WARMUP + REPEATS):
    t0 = time.perf_counter()
    generate(labels, 4.0, 100, g).tolist()
    if i >= WARMUP:
        times.append((time.perf_counter() - t0) * 1e3)
print(f"{statistics.median(times):.2f}")
