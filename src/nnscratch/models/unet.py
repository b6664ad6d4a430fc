"""A small U-Net noise predictor eps_theta(x_t, t, y) for diffusion on images.

    x_t (N, C, H, W) -> 3x3 conv to channels[0]
      down: per level `blocks` ResidualBlocks (each output kept as a skip), then a
            3x3 stride-2 conv (not after the last level)          28 -> 14 -> 7
      middle: ResidualBlock, self-attention over the H*W positions (optional),
              ResidualBlock                                        at the lowest size
      up: per level, deepest first, `blocks` ResidualBlocks on [h, skip] (channels
          concatenated), then nearest x2 upsampling and a 3x3 conv to the next level's
          channels (not after level 0)
    -> GroupNorm, SiLU, 3x3 conv to C: the predicted noise, x_t's shape

The time t enters as a sinusoidal embedding (channels[0] numbers) through
Linear-SiLU-Linear to `4 channels[0]` numbers; a class label y adds a learned embedding
of the same size (row `num_classes` is the "no label" of classifier-free guidance). Each
ResidualBlock adds a linear map of SiLU(embedding) to its hidden channels:

    h = conv(SiLU(GN(x))) + Linear(SiLU(emb))[:, :, None, None]
    out = skip(x) + conv(SiLU(GN(h)))      skip: 1x1 conv when the channels change

Built from the public layers only, so its gradient is theirs; the parameter names match
the PyTorch twin in benchmarks/torch_unet.py, whose state_dict loads unchanged.
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from ..tensor import Tensor
from .diffusion import timestep_embedding


def _check_labels(y, num_classes: int | None) -> None:
    """Labels must be given exactly when the net is conditional, in 0..num_classes (the
    last one: no label)."""
    if num_classes is None:
        if y is not None:
            raise ValueError("UNet: class labels given to an unconditional net (num_classes "
                             "is None)")
        return
    if y is None:
        raise ValueError(f"UNet: this net is class-conditional ({num_classes} classes): "
                         f"pass y, labels in 0..{num_classes - 1} or {num_classes} for none")
    labels = y.data if isinstance(y, Tensor) else y
    if labels.size and (labels.min() < 0 or labels.max() > num_classes):
        raise ValueError(f"UNet: class labels must lie in 0..{num_classes} ({num_classes}: "
                         f"no label), got {labels.min()} to {labels.max()}")


class ResidualBlock(nn.Module):
    """GN-SiLU-conv, plus the embedding's per-channel shift, GN-SiLU-conv, plus the input
    (through a 1x1 conv when the channel count changes)."""

    def __init__(self, in_channels: int, out_channels: int, embed_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embed = nn.Linear(embed_dim, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = (nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels
                     else nn.Identity())

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.embed(F.silu(emb)).unsqueeze(-1).unsqueeze(-1)
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class AttentionBlock(nn.Module):
    """x + MultiheadAttention(GN(x)) over the H*W positions of each image."""

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        tokens = self.norm(x).reshape(n, c, h * w).transpose(1, 2)  # (N, HW, C)
        out, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return x + out.transpose(1, 2).reshape(n, c, h, w)


class UNet(nn.Module):
    """eps_theta(x, t[, y]): see the module docstring. channels: per level (the image
    halves from one level to the next); blocks: ResidualBlocks per level; num_classes:
    None for an unconditional net; attention: self-attention in the middle, with
    `heads` heads; groups: GroupNorm's groups (each level's channels divisible by it)."""

    def __init__(self, in_channels: int = 1, channels=(32, 64, 64), blocks: int = 1,
                 num_classes: int | None = None, attention: bool = True, heads: int = 4,
                 groups: int = 8):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not channels or any(c < 1 or c % groups for c in channels) or blocks < 1:
            raise ValueError(f"UNet: expected channels per level divisible by groups={groups} "
                             f"and blocks >= 1, got channels={channels}, blocks={blocks}")
        self.channels, self.num_classes = channels, num_classes
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

    def embedding(self, t: Tensor, y) -> Tensor:
        dtype = self.time_embed[0].weight.dtype  # the weights', so no product upcasts
        emb = self.time_embed(timestep_embedding(t, self.channels[0], dtype=dtype))
        if self.class_embed is not None:
            emb = emb + self.class_embed(y)
        return emb

    def forward(self, x: Tensor, t: Tensor, y=None) -> Tensor:
        if x.ndim != 4:
            raise ValueError(f"UNet: expected images (N, C, H, W), got shape {tuple(x.shape)}")
        _check_labels(y, self.num_classes)
        emb = self.embedding(t, y)
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
                h = block(F.cat([h, skips.pop()], dim=1), emb)
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2))
        return self.out(F.silu(self.out_norm(h)))
