"""PyTorch-eager twin of bench/cases/matmul_1024.ts: median ms of a 1024³ float32 matmul."""
import statistics
import time

import torch

torch.set_num_threads(2)
g = torch.Generator().manual_seed(0)
a = torch.randn(1024, 1024, generator=g)
b = torch.randn(1024, 1024, generator=g)
times = []
for i in range(3 + 15):
    t0 = time.perf_counter()
    c = a @ b
    del c
    if i >= 3:
        times.append((time.perf_counter() - t0) * 1e3)
print(statistics.median(times))
