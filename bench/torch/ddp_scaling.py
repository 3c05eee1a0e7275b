"""PyTorch twin of bench/cases/ddp_scaling.ts: mar_train_step's model (bench/torch/mar_ref.py, mask ratio
0.85, AdamW fused) trained on a global batch of 32 with 1 thread per process, by 1 process (plain
training) and by 2 processes under DistributedDataParallel over Gloo (spawned by torch.multiprocessing,
each on its 16-sample slice). Prints {"value": 2-process images/s / 1-process images/s, "detail": {...}},
images/s = 32 / the median of 8 timed steps after 2 of warm-up (rank 0's; DDP's all-reduce ends every
step in step)."""
import json
import os
import socket
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mar_ref import MAR  # noqa: E402

GLOBAL_BATCH = 32
WARMUP, STEPS = 2, 8


def train(rank, world, port, results):
    torch.set_num_threads(1)
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = MAR(img_size=32, vae_stride=4, enc_dim=192, enc_depth=2, enc_heads=4, dec_dim=192, dec_depth=2,
                dec_heads=4, vae_embed_dim=4, class_num=10, buffer_size=16, diffloss_d=3, diffloss_w=256)
    b = GLOBAL_BATCH // world
    latents = torch.randn(GLOBAL_BATCH, 4, 8, 8)[rank * b:(rank + 1) * b]
    labels = torch.randint(0, 10, (GLOBAL_BATCH,))[rank * b:(rank + 1) * b]
    torch.manual_seed(rank + 1)  # each rank its own masks and noise
    net = DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    times = []
    for i in range(WARMUP + STEPS):
        t0 = time.perf_counter()
        loss = net(latents.permute(0, 2, 3, 1).reshape(b, 64, 4), labels, 0.85)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
    if world > 1:
        dist.destroy_process_group()
    if rank == 0:
        results.put(GLOBAL_BATCH / statistics.median(times))


def images_per_second(world):
    with socket.socket() as s:  # a port nothing listens on now, for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results = mp.get_context("spawn").SimpleQueue()
    mp.spawn(train, args=(world, port, results), nprocs=world, join=True)
    return results.get()


if __name__ == "__main__":
    one = images_per_second(1)
    two = images_per_second(2)
    print(json.dumps({"value": two / one, "detail": {"images_s_1proc": one, "images_s_2proc": two}}))
