# Why a 2-process run and a 1-process run of the same global batch differ in a few biases
# (README, "Distributed training"): in PyTorch itself, a conv bias feeding a GroupNorm with one
# channel per group has true gradient 0, so its float gradient is rounding noise, and a batch of 8
# and the mean of its two halves of 4 round differently. The weights' gradients agree closely.
#   .venv/bin/python scripts/zero_grad_bias.py
import torch

torch.manual_seed(0)
torch.set_num_threads(1)
conv = torch.nn.Conv2d(32, 32, 3, padding=1)
gn = torch.nn.GroupNorm(32, 32)
head = torch.nn.Conv2d(32, 1, 3, padding=1)
x = torch.randn(8, 32, 32, 32)
y = torch.randn(8, 1, 32, 32)


def grads(xb, yb):
    conv.zero_grad()
    ((head(gn(conv(xb))) - yb) ** 2).mean().backward()
    return conv.bias.grad.clone(), conv.weight.grad.clone()


b8, w8 = grads(x, y)
b1, w1 = grads(x[:4], y[:4])
b2, w2 = grads(x[4:], y[4:])
bs, ws = (b1 + b2) / 2, (w1 + w2) / 2
print("bias grad |g| max", b8.abs().max().item(), "8 vs 4+4 sign agreement", (b8.sign() == bs.sign()).float().mean().item())
print("weight grad |g| mean", w8.abs().mean().item(), "rel diff", ((w8 - ws).norm() / w8.norm()).item())
