"""TransMorph's Swin encoder and decoder (the ``swin`` backbone) and its Mamba variant (``mambatm``).

Layout from rethink-reg-spec §1.2: patch embedding k = s = 4 with LayerNorm, stages of
``depths`` blocks at 1/4..1/32 joined by 2×2(×2) patch merging (LayerNorm(8C) → Linear(8C → 2C)),
each stage output LayerNorm'ed; a conv skip ``conv(avgpool(image))`` at 1/2. The Swin blocks are
MONAI's (window attention with relative position bias, MLP, stochastic depth) in stages of
TransMorph's windows: the window and its half-window shift stay as configured on every axis,
however small the feature map, which is zero-padded to whole windows and shifted cyclically behind
the attention mask. MONAI's own stage (``BasicLayer``) shrinks the window to the map where the map
is no larger and then drops that axis's shift and reads a slice of the relative-position table,
which changes every stage whose map is at most one window wide on some axis (in 2D at 128² the
1/16 and 1/32 stages, in 3D at least the 1/32 stage): measured 3.7–39 % output differences in 2D.
The 3D patch merging concatenates the eight neighbours in TransMorph's order, not MONAI's.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.blocks import Convolution, MLPBlock
from monai.networks.blocks.patchembedding import PatchEmbed
from monai.networks.layers import DropPath
from monai.networks.nets.swin_unetr import (
    PatchMergingV2,
    SwinTransformerBlock,
    compute_mask,
    window_partition,
    window_reverse,
)

from regbench.models.blocks import FlowConv
from regbench.models.mamba import Mamba, tokens, untokens

#: window per dimensionality (brain/lung/MR-CT in 3D, cardiac in 2D)
DEFAULT_WINDOW = {2: (8, 8), 3: (5, 6, 7)}


def tm_conv(ndim: int, cin: int, cout: int) -> nn.Module:
    """TransMorph's conv block: conv k=3 without bias → InstanceNorm → LeakyReLU(0.01)."""
    return Convolution(
        ndim, cin, cout, kernel_size=3, bias=False,
        act=("leakyrelu", {"negative_slope": 0.01}), norm=("instance", {"affine": False}),
    )  # fmt: skip


#: TransMorph's order of the eight neighbours (offsets along the three axes) that its 3D patch
#: merging concatenates; MONAI's PatchMergingV2 takes them in lexicographic order (in 2D both
#: take TransMorph's). The order decides which weights of the reduction meet which neighbour.
MERGE_ORDER_3D = ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1), (1, 0, 1), (1, 1, 1))


class PatchMerging(PatchMergingV2):
    """MONAI's 2×2(×2) patch merging (LayerNorm, then Linear to twice the channels), with the 3D
    neighbours in TransMorph's order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            return super().forward(x)
        d, h, w = x.shape[1:4]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2, 0, d % 2))
        x = torch.cat([x[:, i::2, j::2, k::2] for i, j, k in MERGE_ORDER_3D], -1)
        return self.reduction(self.norm(x))


class FixedWindowBlock(SwinTransformerBlock):
    """MONAI's Swin block whose attention keeps its configured window and shift (TransMorph's)."""

    def forward_part1(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        spatial = x.shape[1:-1]  # x: [B, *spatial, C]
        x = self.norm1(x)
        pads = [(w - s % w) % w for s, w in zip(spatial, self.window_size)]
        x = F.pad(x, [0, 0, *(p for pad in reversed(pads) for p in (0, pad))])
        axes = tuple(range(1, len(spatial) + 1))
        shifted = any(self.shift_size)
        if shifted:
            x = torch.roll(x, [-s for s in self.shift_size], axes)
        windows = self.attn(window_partition(x, self.window_size), mask=mask if shifted else None)
        windows = windows.view(-1, *self.window_size, x.shape[-1])
        x = window_reverse(windows, self.window_size, [x.shape[0], *x.shape[1:-1]])
        if shifted:
            x = torch.roll(x, list(self.shift_size), axes)
        return x[(slice(None), *(slice(0, s) for s in spatial))].contiguous()


class SwinStage(nn.Module):
    """``depth`` Swin blocks on a ``[B, C, *spatial]`` map, every second one shifted by half a
    window (the attention mask of the padded map keeps the cyclically shifted regions apart)."""

    def __init__(self, channels: int, depth: int, heads: int, window, drop_path: list[float]):
        super().__init__()
        self.window, self.shift = tuple(window), tuple(w // 2 for w in window)
        self.blocks = nn.ModuleList(
            FixedWindowBlock(
                channels,
                heads,
                self.window,
                self.shift if i % 2 else (0,) * len(window),
                qkv_bias=False,
                drop_path=drop_path[i],
            )  # fmt: skip
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = [-(-s // w) * w for s, w in zip(x.shape[2:], self.window)]
        mask = compute_mask(padded, self.window, self.shift, x.device)
        x = x.movedim(1, -1)
        for block in self.blocks:
            x = block(x, mask)
        return x.movedim(-1, 1)


class MambaMlpBlock(nn.Module):
    """``x + DropPath(Mamba(LN(x)))``, then ``+ DropPath(MLP(LN(·)))``, on tokens."""

    def __init__(self, channels: int, drop_path: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.mamba = Mamba(channels)
        self.mlp = MLPBlock(channels, 4 * channels, dropout_mode="swin")
        self.drop = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.mamba(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


class MambaStage(nn.Module):
    """A stage of :class:`MambaMlpBlock` over the raster-ordered tokens (one scan direction)."""

    def __init__(self, channels: int, drop_path: list[float]):
        super().__init__()
        self.blocks = nn.Sequential(*(MambaMlpBlock(channels, p) for p in drop_path))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return untokens(self.blocks(tokens(x)), x.shape[2:])


class SwinEncoder(nn.Module):
    """Features fine to coarse: ``[E/2 @1/2 (conv skip), E @1/4, 2E @1/8, 4E @1/16, 8E @1/32]``.

    ``mixer="mamba"`` replaces every Swin block by a Mamba + MLP block (Mam-TM).
    """

    def __init__(
        self,
        ndim: int,
        in_channels: int,
        embed_dim: int,
        depths=(2, 2, 4, 2),
        heads=(4, 4, 8, 8),
        window=None,
        drop_path: float = 0.3,
        mixer: str = "attention",
    ):
        super().__init__()
        widths = [embed_dim * 2**i for i in range(len(depths))]
        self.feature_widths = [embed_dim // 2, *widths]
        self.skip = tm_conv(ndim, in_channels, embed_dim // 2)
        self.embed = PatchEmbed(4, in_channels, embed_dim, nn.LayerNorm, spatial_dims=ndim)
        rates = torch.linspace(0, drop_path, sum(depths)).tolist()
        self.stages = nn.ModuleList()
        for i, (width, depth) in enumerate(zip(widths, depths)):
            stage_rates = rates[sum(depths[:i]) : sum(depths[: i + 1])]
            if mixer == "mamba":
                self.stages.append(MambaStage(width, stage_rates))
            else:
                window = tuple(window or DEFAULT_WINDOW[ndim])
                self.stages.append(SwinStage(width, depth, heads[i], window, stage_rates))
        self.norms = nn.ModuleList(nn.LayerNorm(w) for w in widths)
        self.merges = nn.ModuleList(PatchMerging(w, spatial_dims=ndim) for w in widths[:-1])

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        pool = F.avg_pool2d if image.ndim == 4 else F.avg_pool3d
        features = [self.skip(pool(image, 3, stride=2, padding=1))]
        x = self.embed(image)
        for i, (stage, norm) in enumerate(zip(self.stages, self.norms)):
            x = stage(x).movedim(1, -1)  # channels last
            features.append(norm(x).movedim(-1, 1))
            if i < len(self.merges):
                x = self.merges[i](x).movedim(-1, 1)
        return features


class TMDecoder(nn.Module):
    """From the coarsest feature up: ×2 interpolation, concat skip, two TM conv blocks; flow conv.

    ``skip_channels`` lists the features coarse to fine, the first being the decoder's input.
    """

    def __init__(self, ndim: int, skip_channels: list[int], out_channels: list[int]):
        super().__init__()
        ins = [skip_channels[0], *out_channels[:-1]]
        self.blocks = nn.ModuleList(
            nn.Sequential(tm_conv(ndim, cin + skip, out), tm_conv(ndim, out, out))
            for cin, skip, out in zip(ins, skip_channels[1:], out_channels)
        )
        self.flow = FlowConv(ndim, out_channels[-1])

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        x = skips[0]
        mode = "bilinear" if x.ndim == 4 else "trilinear"
        for block, skip in zip(self.blocks, skips[1:]):
            x = F.interpolate(x, scale_factor=2, mode=mode, align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.flow(x)
