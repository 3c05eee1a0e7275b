"""PyTorch-eager twin of bench/cases/mar_train_step.ts: mar_fmnist-sized MAR (bench/torch/mar_ref.py),
batch 32 x 64 tokens, mask ratio 0.85, one forward + backward + AdamW(fused) step; prints the median ms."""
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mar_ref import MAR  # noqa: E402

torch.set_num_threads(2)
torch.manual_seed(0)
model = MAR(img_size=32, vae_stride=4, enc_dim=192, enc_depth=2, enc_heads=4, dec_dim=192, dec_depth=2, dec_heads=4,
            vae_embed_dim=4, class_num=10, buffer_size=16, diffloss_d=3, diffloss_w=256)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
latents = torch.randn(32, 4, 8, 8)
labels = torch.randint(0, 10, (32,))


def step():
    tokens = latents.permute(0, 2, 3, 1).reshape(32, 64, 4)
    loss = model(tokens, labels, 0.85)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


times = []
for i in range(11):
    t0 = time.perf_counter()
    step()
    if i >= 2:
        times.append((time.perf_counter() - t0) * 1000)
print(statistics.median(times))
