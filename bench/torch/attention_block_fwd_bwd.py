"""PyTorch-eager twin of bench/cases/attention_block_fwd_bwd.ts: a pre-norm block (LayerNorm,
timm-style Attention with fused qkv and sdpa, LayerNorm, GELU Mlp x4), batch 16, 256 tokens,
width 256, 4 heads, forward + backward; prints the median ms."""
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

B, L, D, H = 16, 256, 256, 4


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.norm2 = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, 4 * D)
        self.fc2 = nn.Linear(4 * D, D)

    def forward(self, x):
        q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, H, D // H).permute(2, 0, 3, 1, 4).unbind(0)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, L, D)
        x = x + self.proj(a)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


torch.set_num_threads(2)
torch.manual_seed(0)
block = Block()
x = torch.randn(B, L, D, requires_grad=True)
times = []
for i in range(2 + 9):
    t0 = time.perf_counter()
    block(x).sum().backward()
    block.zero_grad(set_to_none=True)
    x.grad = None
    if i >= 2:
        times.append((time.perf_counter() - t0) * 1e3)
print(statistics.median(times))
