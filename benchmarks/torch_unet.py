"""models.unet.UNet in PyTorch, module for module and name for name, so a state_dict
loads both ways: the twin of the U-Net tests and of the fashion-ddpm benchmarks."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0,
                       dtype=None):
    """models.diffusion.timestep_embedding: [cos(t f_k), sin(t f_k)], f_k = P^(-k / half)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64)
                            / max(half, 1))
    angles = t.to(torch.float64)[:, None] * frequencies[None]
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros(len(t), 1, dtype=torch.float64)], 1)
    return embedding.to(dtype or torch.get_default_dtype())


class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, embed_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embed = nn.Linear(embed_dim, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = (nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels
                     else nn.Identity())

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.embed(F.silu(emb))[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class AttentionBlock(nn.Module):
    def __init__(self, channels, heads, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        n, c, h, w = x.shape
        tokens = self.norm(x).reshape(n, c, h * w).transpose(1, 2)
        out, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return x + out.transpose(1, 2).reshape(n, c, h, w)


class UNet(nn.Module):
    def __init__(self, in_channels=1, channels=(32, 64, 64), blocks=1, num_classes=None,
                 attention=True, heads=4, groups=8):
        super().__init__()
        self.channels, self.num_classes = tuple(channels), num_classes
        embed = 4 * channels[0]
        self.time_embed = nn.Sequential(nn.Linear(channels[0], embed), nn.SiLU(),
                                        nn.Linear(embed, embed))
        self.class_embed = (nn.Embedding(num_classes + 1, embed) if num_classes is not None
                            else None)
        self.stem = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        width, skips = channels[0], []
        for level, c in enumerate(channels):
            stage = nn.ModuleList()
            for _ in range(blocks):
                stage.append(ResidualBlock(width, c, embed, groups))
                width = c
                skips.append(c)
            self.down.append(stage)
            if level < len(channels) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.middle1 = ResidualBlock(width, width, embed, groups)
        self.middle_attention = AttentionBlock(width, heads, groups) if attention else None
        self.middle2 = ResidualBlock(width, width, embed, groups)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level in range(len(channels) - 1, -1, -1):
            c = channels[level]
            stage = nn.ModuleList()
            for _ in range(blocks):
                stage.append(ResidualBlock(width + skips.pop(), c, embed, groups))
                width = c
            self.up.append(stage)
            if level > 0:
                width = channels[level - 1]
                self.upsample.append(nn.Conv2d(c, width, 3, padding=1))
        self.out_norm = nn.GroupNorm(groups, width)
        self.out = nn.Conv2d(width, in_channels, 3, padding=1)

    def forward(self, x, t, y=None):
        emb = self.time_embed(timestep_embedding(t, self.channels[0],
                                                 dtype=self.time_embed[0].weight.dtype))
        if self.class_embed is not None:
            emb = emb + self.class_embed(y)
        h, skips = self.stem(x), []
        for level, stage in enumerate(self.down):
            for block in stage:
                h = block(h, emb)
                skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
        h = self.middle1(h, emb)
        if self.middle_attention is not None:
            h = self.middle_attention(h)
        h = self.middle2(h, emb)
        for i, stage in enumerate(self.up):
            for block in stage:
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2))
        return self.out(F.silu(self.out_norm(h)))
