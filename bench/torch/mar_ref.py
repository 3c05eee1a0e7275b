"""A compact PyTorch-eager MAR with the structure and parameter names of LTH14/mar
(models/mar.py, models/diffloss.py, diffusion/): timm-style Block (norm1, attn.qkv, attn.proj,
norm2, mlp.fc1, mlp.fc2), SimpleMLPAdaLN, cosine diffusion with learned-range sigma and
respacing. Used by the benchmark twins (bench/torch/mar_*.py) and by
scripts/fixtures/make_keys_mar_base.py; written from the reference's structure, without timm.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, L, D = x.shape
        q, k, v = self.qkv(x).reshape(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, L, D))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=1e-6), Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


class TimestepEmbedder(nn.Module):
    def __init__(self, dim, freq=256):
        super().__init__()
        self.freq = freq
        self.mlp = nn.Sequential(nn.Linear(freq, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t):
        half = self.freq // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], -1))


class ResBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.in_ln = nn.LayerNorm(ch, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(ch, ch), nn.SiLU(), nn.Linear(ch, ch))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(ch, 3 * ch))

    def forward(self, x, y):
        shift, scale, gate = self.adaLN_modulation(y).chunk(3, -1)
        return x + gate * self.mlp(modulate(self.in_ln(x), shift, scale))


class FinalLayer(nn.Module):
    def __init__(self, ch, out):
        super().__init__()
        self.norm_final = nn.LayerNorm(ch, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(ch, out)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(ch, 2 * ch))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, -1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class SimpleMLPAdaLN(nn.Module):
    def __init__(self, in_ch, width, out_ch, z_ch, depth):
        super().__init__()
        self.in_ch = in_ch
        self.time_embed = TimestepEmbedder(width)
        self.cond_embed = nn.Linear(z_ch, width)
        self.input_proj = nn.Linear(in_ch, width)
        self.res_blocks = nn.ModuleList([ResBlock(width) for _ in range(depth)])
        self.final_layer = FinalLayer(width, out_ch)

    def forward(self, x, t, c):
        x = self.input_proj(x)
        y = self.time_embed(t) + self.cond_embed(c)
        for b in self.res_blocks:
            x = b(x, y)
        return self.final_layer(x, y)

    def forward_with_cfg(self, x, t, c, s):
        half = x[: len(x) // 2]
        out = self.forward(torch.cat([half, half]), t, c)
        eps, rest = out[:, : self.in_ch], out[:, self.in_ch :]
        ce, ue = eps.chunk(2)
        g = ue + s * (ce - ue)
        return torch.cat([torch.cat([g, g]), rest], 1)


def cosine_betas(n):
    ab = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    return np.array([min(1 - ab((i + 1) / n) / ab(i / n), 0.999) for i in range(n)])


def space(n, count):
    stride, cur, out = (n - 1) / (count - 1), 0.0, []
    for _ in range(count):
        out.append(round(cur))
        cur += stride
    return out


class Diffusion:
    """Cosine Gaussian diffusion, learned-range sigma, eps prediction (IDDPM / MAR)."""

    def __init__(self, steps=""):
        betas = cosine_betas(1000)
        self.map = list(range(1000))
        if steps:
            ac, self.map, last, nb = np.cumprod(1 - betas), space(1000, int(steps)), 1.0, []
            for i in self.map:
                nb.append(1 - ac[i] / last)
                last = ac[i]
            betas = np.array(nb)
        self.T = len(betas)
        ac = np.cumprod(1 - betas)
        acp = np.append(1.0, ac[:-1])
        pv = betas * (1 - acp) / (1 - ac)
        f = lambda a: torch.tensor(a, dtype=torch.float32)
        self.sqrt_ac, self.sqrt_1mac = f(np.sqrt(ac)), f(np.sqrt(1 - ac))
        self.recip, self.recipm1 = f(np.sqrt(1 / ac)), f(np.sqrt(1 / ac - 1))
        self.plv = f(np.log(np.append(pv[1], pv[1:])))
        self.logb = f(np.log(betas))
        self.c1, self.c2 = f(betas * np.sqrt(acp) / (1 - ac)), f((1 - acp) * np.sqrt(1 - betas) / (1 - ac))
        self.map_t = torch.tensor(self.map)

    def p_mean_var(self, out, x, t):
        eps, v = out.chunk(2, 1)
        e = lambda a: a[t][:, None]
        frac = (v + 1) / 2
        logvar = frac * e(self.logb) + (1 - frac) * e(self.plv)
        x0 = e(self.recip) * x - e(self.recipm1) * eps
        return e(self.c1) * x0 + e(self.c2) * x, logvar, eps

    def training_losses(self, net, x0, t, c, noise):
        e = lambda a: a[t][:, None]
        xt = e(self.sqrt_ac) * x0 + e(self.sqrt_1mac) * noise
        out = net(xt, self.map_t[t], c)
        eps, v = out.chunk(2, 1)
        mean, logvar, _ = self.p_mean_var(torch.cat([eps.detach(), v], 1), xt, t)
        tmean, tlv = e(self.c1) * x0 + e(self.c2) * xt, e(self.plv)
        kl = 0.5 * (-1.0 + logvar - tlv + torch.exp(tlv - logvar) + (tmean - mean) ** 2 * torch.exp(-logvar))
        kl = kl.mean(1) / math.log(2.0)
        cdf = lambda z: 0.5 * (1.0 + torch.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))
        inv = torch.exp(-0.5 * logvar)
        cp, cm = cdf(inv * (x0 - mean + 1 / 255)), cdf(inv * (x0 - mean - 1 / 255))
        lp = torch.where(
            x0 < -0.999,
            cp.clamp(min=1e-12).log(),
            torch.where(x0 > 0.999, (1 - cm).clamp(min=1e-12).log(), (cp - cm).clamp(min=1e-12).log()),
        )
        nll = -lp.mean(1) / math.log(2.0)
        return ((noise - eps) ** 2).mean(1) + torch.where(t == 0, nll, kl)

    def sample(self, fn, noise, temperature=1.0):
        x = noise
        for i in reversed(range(self.T)):
            t = torch.full((x.shape[0],), i, dtype=torch.long)
            mean, logvar, _ = self.p_mean_var(fn(x, self.map_t[t]), x, t)
            x = mean + (float(i != 0)) * torch.exp(0.5 * logvar) * torch.randn_like(x) * temperature
        return x


class DiffLoss(nn.Module):
    def __init__(self, ch, z_ch, depth, width, steps):
        super().__init__()
        self.ch = ch
        self.net = SimpleMLPAdaLN(ch, width, 2 * ch, z_ch, depth)
        self.train_diffusion, self.gen_diffusion = Diffusion(""), Diffusion(steps)

    def forward(self, target, z, mask):
        t = torch.randint(0, 1000, (target.shape[0],))
        loss = self.train_diffusion.training_losses(self.net, target, t, z, torch.randn_like(target))
        return (loss * mask).sum() / mask.sum()

    def sample(self, z, temperature, cfg):
        if cfg != 1.0:
            n = torch.randn(z.shape[0] // 2, self.ch)
            return self.gen_diffusion.sample(lambda x, t: self.net.forward_with_cfg(x, t, z, cfg), torch.cat([n, n]), temperature)
        return self.gen_diffusion.sample(lambda x, t: self.net(x, t, z), torch.randn(z.shape[0], self.ch), temperature)


class MAR(nn.Module):
    def __init__(self, img_size=256, vae_stride=16, enc_dim=768, enc_depth=12, enc_heads=12, dec_dim=768, dec_depth=12,
                 dec_heads=12, vae_embed_dim=16, class_num=1000, buffer_size=64, diffloss_d=6, diffloss_w=1024,
                 num_sampling_steps="100", diffusion_batch_mul=4):
        super().__init__()
        self.seq_h = img_size // vae_stride
        self.seq_len, self.C, self.buf, self.mul = self.seq_h**2, vae_embed_dim, buffer_size, diffusion_batch_mul
        L = self.seq_len
        self.class_emb = nn.Embedding(class_num, enc_dim)
        self.fake_latent = nn.Parameter(torch.randn(1, enc_dim) * 0.02)
        self.z_proj = nn.Linear(vae_embed_dim, enc_dim)
        self.z_proj_ln = nn.LayerNorm(enc_dim, eps=1e-6)
        self.encoder_pos_embed_learned = nn.Parameter(torch.randn(1, L + buffer_size, enc_dim) * 0.02)
        self.encoder_blocks = nn.ModuleList([Block(enc_dim, enc_heads) for _ in range(enc_depth)])
        self.encoder_norm = nn.LayerNorm(enc_dim, eps=1e-6)
        self.decoder_embed = nn.Linear(enc_dim, dec_dim)
        self.mask_token = nn.Parameter(torch.randn(1, 1, dec_dim) * 0.02)
        self.decoder_pos_embed_learned = nn.Parameter(torch.randn(1, L + buffer_size, dec_dim) * 0.02)
        self.decoder_blocks = nn.ModuleList([Block(dec_dim, dec_heads) for _ in range(dec_depth)])
        self.decoder_norm = nn.LayerNorm(dec_dim, eps=1e-6)
        self.diffusion_pos_embed_learned = nn.Parameter(torch.randn(1, L, dec_dim) * 0.02)
        self.diffloss = DiffLoss(vae_embed_dim, dec_dim, diffloss_d, diffloss_w, num_sampling_steps)

    def encoder(self, x, mask, cls):
        x = self.z_proj(x)
        B, L, D = x.shape
        x = torch.cat([cls.unsqueeze(1).expand(B, self.buf, D), x], 1) + self.encoder_pos_embed_learned
        x = self.z_proj_ln(x)
        keep = torch.cat([torch.ones(B, self.buf, dtype=torch.bool), mask == 0], 1)
        x = x[keep].reshape(B, -1, D)
        for b in self.encoder_blocks:
            x = b(x)
        return self.encoder_norm(x)

    def decoder(self, x, mask):
        x = self.decoder_embed(x)
        B, L = mask.shape
        keep = torch.cat([torch.ones(B, self.buf, dtype=torch.bool), mask == 0], 1)
        pad = self.mask_token.expand(B, self.buf + L, x.shape[-1]).clone()
        pad[keep] = x.reshape(-1, x.shape[-1])
        x = pad + self.decoder_pos_embed_learned
        for b in self.decoder_blocks:
            x = b(x)
        return self.decoder_norm(x)[:, self.buf :] + self.diffusion_pos_embed_learned

    def forward(self, tokens, labels, mask_ratio):
        B, L, _ = tokens.shape
        cls = self.class_emb(labels)
        drop = (torch.rand(B, 1) < 0.1).float()
        cls = drop * self.fake_latent + (1 - drop) * cls
        orders = torch.rand(B, L).argsort(-1)
        mask = torch.zeros(B, L).scatter(-1, orders[:, : math.ceil(L * mask_ratio)], 1.0)
        z = self.decoder(self.encoder(tokens, mask, cls), mask)
        t = tokens.reshape(B * L, -1).repeat(self.mul, 1)
        return self.diffloss(t, z.reshape(B * L, -1).repeat(self.mul, 1), mask.reshape(-1).repeat(self.mul))

    @torch.no_grad()
    def sample_tokens(self, bsz, num_iter, cfg, labels, temperature=1.0):
        L = self.seq_len
        mask, tokens = torch.ones(bsz, L), torch.zeros(bsz, L, self.C)
        orders = torch.rand(bsz, L).argsort(-1)
        cls = self.class_emb(labels)
        if cfg != 1.0:
            cls = torch.cat([cls, self.fake_latent.expand(bsz, -1)])
        for step in range(num_iter):
            tok, msk = (torch.cat([tokens, tokens]), torch.cat([mask, mask])) if cfg != 1.0 else (tokens, mask)
            z = self.decoder(self.encoder(tok, msk, cls), msk)
            mask_len = max(1, min(int(mask[0].sum()) - 1, math.floor(L * math.cos(math.pi / 2 * (step + 1) / num_iter))))
            nxt = torch.zeros(bsz, L).scatter(-1, orders[:, :mask_len], 1.0) if step < num_iter - 1 else torch.zeros(bsz, L)
            pred = mask.bool() ^ nxt.bool()
            sel = torch.cat([pred, pred]) if cfg != 1.0 else pred
            cfg_iter = 1 + (cfg - 1) * (L - mask_len) / L
            s = self.diffloss.sample(z[sel], temperature, cfg_iter)
            if cfg != 1.0:
                s = s.chunk(2)[0]
            tokens = tokens.clone()
            tokens[pred] = s
            mask = nxt
        return tokens.reshape(bsz, self.seq_h, self.seq_h, self.C).permute(0, 3, 1, 2)
