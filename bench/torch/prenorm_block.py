"""torch.nn twin of bench/prenorm_block.ts: the pre-norm transformer block (LayerNorm, timm-style
Attention with fused qkv and sdpa, LayerNorm, GELU Mlp x4, residuals) that the
attention_block_fwd_bwd and gpt_train_step twins time."""
import torch.nn as nn
import torch.nn.functional as F


class PreNormBlock(nn.Module):
    def __init__(self, dim, heads, causal=False):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        B, L, D = x.shape
        H = self.heads
        q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, H, D // H).permute(2, 0, 3, 1, 4).unbind(0)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal).transpose(1, 2).reshape(B, L, D)
        x = x + self.proj(a)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))
