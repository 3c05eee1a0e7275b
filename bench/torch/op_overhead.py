"""PyTorch-eager twin of bench/cases/op_overhead.ts: µs per tiny add on a 4-element tensor
(the result is freed when its name is rebound)."""
import statistics
import time

import torch

OPS = 20_000
REPEATS = 9

torch.set_num_threads(2)
x = torch.tensor([1.0, 2.0, 3.0, 4.0])
per_op_us = []
for r in range(REPEATS + 1):
    t0 = time.perf_counter()
    for _ in range(OPS):
        y = x.add(1)
    if r > 0:
        per_op_us.append((time.perf_counter() - t0) * 1e6 / OPS)
del y
print(statistics.median(per_op_us))
