"""PyTorch-eager twin of bench/cases/attention_block_fwd_bwd.ts: the pre-norm block of
prenorm_block.py (LayerNorm, timm-style Attention, LayerNorm, GELU Mlp x4), batch 16, 256 tokens,
width 256, 4 heads, forward + backward; prints the median ms."""
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prenorm_block import PreNormBlock  # noqa: E402

B, L, D, H = 16, 256, 256, 4

torch.set_num_threads(2)
torch.manual_seed(0)
block = PreNormBlock(D, H)
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
