"""PyTorch-eager twin of bench/cases/mar_sample.ts: mar_fmnist-sized MAR (bench/torch/mar_ref.py),
16 images, 16 AR steps, 50 diffusion steps, CFG 3 (linear); prints the median ms."""
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
            vae_embed_dim=4, class_num=10, buffer_size=16, diffloss_d=3, diffloss_w=256,
            num_sampling_steps="50").eval()
labels = torch.randint(0, 10, (16,))
times = []
for i in range(6):
    t0 = time.perf_counter()
    model.sample_tokens(16, 16, 3.0, labels)
    if i >= 1:
        times.append((time.perf_counter() - t0) * 1000)
print(statistics.median(times))
