"""PyTorch-eager twin of bench/cases/op_overhead.ts: µs per tiny add on a 4-element tensor
(the result is freed when its name is rebound).
With --serve it times one block of OPS adds for each line it reads on stdin and prints its µs per
op, so that the d2c case can alternate blocks with it in one run (the host's speed drifts between
processes by more than the difference being measured)."""
import statistics
import sys
import time

import torch

OPS = 20_000
REPEATS = 9

torch.set_num_threads(2)
x = torch.tensor([1.0, 2.0, 3.0, 4.0])


def block_us():
    t0 = time.perf_counter()
    for _ in range(OPS):
        y = x.add(1)
    del y
    return (time.perf_counter() - t0) * 1e6 / OPS


if "--serve" in sys.argv:
    block_us()  # warm-up
    for _ in sys.stdin:
        print(block_us(), flush=True)
else:
    block_us()  # warm-up
    print(statistics.median(block_us() for _ in range(REPEATS)))
