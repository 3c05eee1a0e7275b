"""PyTorch-eager twin of bench/cases/tokenizer_vq_train_step.ts: the vq_fmnist VQ tokenizer (ch 32,
ch_mult [1,2,2], one res block per level, attention at the lowest level and in the middle, z 64,
512x8 l2-normalised codebook, 1 channel), batch 16 at 32x32; forward, L2 + VQ + 0.25 commitment
loss, straight-through, usage record, backward, fused AdamW (lr 1e-4, betas 0.9/0.95, wd 0.05).
Prints the median ms."""
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

B, CH, MULT, NRES, Z, K, D = 16, 32, [1, 2, 2], 1, 64, 512, 8


def gn(c):
    return nn.GroupNorm(32, c, eps=1e-6)


class Res(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.n1, self.c1, self.n2, self.c2 = gn(i), nn.Conv2d(i, o, 3, padding=1), gn(o), nn.Conv2d(o, o, 3, padding=1)
        self.skip = nn.Conv2d(i, o, 1) if i != o else nn.Identity()

    def forward(self, x):
        return self.skip(x) + self.c2(F.silu(self.n2(self.c1(F.silu(self.n1(x))))))


class Attn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n, self.q, self.k, self.v, self.o = gn(c), *(nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.n(x)
        t = lambda m: m(y).reshape(b, c, h * w).transpose(1, 2).unsqueeze(1)  # noqa: E731
        a = F.scaled_dot_product_attention(t(self.q), t(self.k), t(self.v))
        return x + self.o(a.squeeze(1).transpose(1, 2).reshape(b, c, h, w))


class Down(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = nn.Conv2d(c, c, 3, stride=2)

    def forward(self, x):
        return self.c(F.pad(x, (0, 1, 0, 1)))


class Up(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.c(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def coder(encoder):
    layers, bi = [nn.Conv2d(1, CH, 3, padding=1)] if encoder else [], CH
    if encoder:
        for lv, m in enumerate(MULT):
            for _ in range(NRES):
                layers.append(Res(bi, CH * m))
                bi = CH * m
                if lv == len(MULT) - 1:
                    layers.append(Attn(bi))
            if lv != len(MULT) - 1:
                layers.append(Down(bi))
        layers += [Res(bi, bi), Attn(bi), Res(bi, bi), gn(bi), nn.SiLU(), nn.Conv2d(bi, Z, 3, padding=1)]
    else:
        bi = CH * MULT[-1]
        layers += [nn.Conv2d(Z, bi, 3, padding=1), Res(bi, bi), Attn(bi), Res(bi, bi)]
        for lv in reversed(range(len(MULT))):
            for _ in range(NRES + 1):
                layers.append(Res(bi, CH * MULT[lv]))
                bi = CH * MULT[lv]
                if lv == len(MULT) - 1:
                    layers.append(Attn(bi))
            if lv != 0:
                layers.append(Up(bi))
        layers += [gn(bi), nn.SiLU(), nn.Conv2d(bi, 1, 3, padding=1)]
    return nn.Sequential(*layers)


class VQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.dec = coder(True), coder(False)
        self.qc, self.pqc = nn.Conv2d(Z, D, 1), nn.Conv2d(D, Z, 1)
        self.emb = nn.Embedding(K, D)
        self.register_buffer("used", torch.zeros(65536))

    def forward(self, x):
        h = self.qc(self.enc(x))
        b, d, hh, ww = h.shape
        z = F.normalize(h.permute(0, 2, 3, 1).reshape(-1, d), dim=-1)
        e = F.normalize(self.emb.weight, dim=-1)
        dist = z.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1) - 2 * z @ e.t()
        idx = dist.argmin(1)
        zq = e[idx]
        with torch.no_grad():
            n = idx.shape[0]
            self.used[:-n] = self.used[n:].clone()
            self.used[-n:] = idx.float()
            usage = (torch.bincount(self.used.long(), minlength=K) > 0).sum().item() / K
            hist = torch.bincount(idx, minlength=K).double() / n
            ppl = torch.exp(-(hist * hist.clamp_min(1e-30).log()).sum()).item()
        loss_q = (zq - z.detach()).pow(2).mean() + 0.25 * (zq.detach() - z).pow(2).mean()
        st = (z + (zq - z).detach()).reshape(b, hh, ww, d).permute(0, 3, 1, 2).contiguous()
        return self.dec(self.pqc(st)), loss_q, usage, ppl


torch.set_num_threads(2)
torch.manual_seed(0)
model = VQ()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05, fused=True)
x = torch.rand(B, 1, 32, 32) * 2 - 1
times = []
for i in range(2 + 7):
    t0 = time.perf_counter()
    recon, loss_q, usage, ppl = model(x)
    rec = F.mse_loss(recon, x)
    loss = rec + loss_q
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    metrics = (loss.item(), rec.item(), loss_q.item(), usage, ppl)
    if i >= 2:
        times.append((time.perf_counter() - t0) * 1e3)
print(statistics.median(times))
