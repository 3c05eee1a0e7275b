"""PyTorch-eager twin of bench/cases/gpt_train_step.ts: the same pre-norm GPT (B32, T64, D256,
4 heads, 4 layers, GELU MLP x4, vocabulary 1024) with torch.nn, one forward + backward +
torch.optim.AdamW(fused=True) step; prints the median ms."""
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prenorm_block import PreNormBlock  # noqa: E402

B, T, D, H, L, V = 32, 64, 256, 4, 4, 1024


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(T, D)
        self.blocks = nn.ModuleList(PreNormBlock(D, H, causal=True) for _ in range(L))
        self.lnf = nn.LayerNorm(D)
        self.head = nn.Linear(D, V, bias=False)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x)
        logits = self.head(self.lnf(x))
        return F.cross_entropy(logits.view(B * T, V), targets.view(B * T))


torch.set_num_threads(2)
torch.manual_seed(0)
model = GPT()
opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, eps=1e-8, fused=True)
idx = torch.randint(0, V, (B, T))
targets = torch.randint(0, V, (B, T))


def step():
    model(idx, targets).backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


times = []
for i in range(3 + 15):
    t0 = time.perf_counter()
    step()
    if i >= 3:
        times.append((time.perf_counter() - t0) * 1e3)
print(statistics.median(times))
