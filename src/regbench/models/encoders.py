"""The built-in backbones' encoders and decoders, as the registry's records name them
(:data:`regbench.registry.BUILTIN_BACKBONES`), with the reference configurations' widths
(rethink-reg-spec §1.2-1.4). An encoder is built for two-channel input (early fusion) or for one
image per stream (design ``D``) at half the widths: the paper's rule for its D variants (VXM
widths 16…128 → 8…64, TransMorph E = 96 → 48), applied to every built-in backbone."""

from __future__ import annotations

import torch.nn as nn

from regbench.models.cnn import CNNEncoder
from regbench.models.decoders import UNetDecoder
from regbench.models.lk import LKDecoder, LKEncoder
from regbench.models.mamba import MambaEncoder
from regbench.models.pooling import PoolingEncoder
from regbench.models.swin import SwinEncoder, TMDecoder
from regbench.models.vfa import VFADecoder

_REMAIN = [32, 32]


def cnn(ndim: int, in_channels: int, window) -> nn.Module:
    return CNNEncoder(ndim, in_channels, [16, 32, 64, 96, 128] if in_channels == 2 else [8, 16, 32, 48, 64])


def _swin(ndim: int, in_channels: int, window, mixer: str) -> nn.Module:
    depths = (2, 2, 2, 2) if mixer == "mamba" else (2, 2, 4, 2)
    embed_dim = 96 if in_channels == 2 else 48
    return SwinEncoder(ndim, in_channels, embed_dim=embed_dim, depths=depths, window=window, mixer=mixer)


def swin(ndim: int, in_channels: int, window) -> nn.Module:
    return _swin(ndim, in_channels, window, "attention")


def mambatm(ndim: int, in_channels: int, window) -> nn.Module:
    return _swin(ndim, in_channels, window, "mamba")


def mamba(ndim: int, in_channels: int, window) -> nn.Module:
    return MambaEncoder(ndim, in_channels, (32, 64, 96, 128) if in_channels == 2 else (16, 32, 48, 64))


def lk(ndim: int, in_channels: int, window) -> nn.Module:
    return LKEncoder(ndim, in_channels, base=8 if in_channels == 2 else 4)


def pooling(ndim: int, in_channels: int, window) -> nn.Module:
    return PoolingEncoder(ndim)


def vfa(ndim: int, in_channels: int, window) -> nn.Module:
    return CNNEncoder(ndim, 1, [16, 48, 64, 96, 128])


def vxm_decoder(ndim: int, skips: list[int]) -> nn.Module:
    return UNetDecoder(ndim, skips, [128, 96, 64, 32], _REMAIN)


def tm_decoder(ndim: int, skips: list[int]) -> nn.Module:
    return TMDecoder(ndim, skips, [384, 192, 96, 16])  # TransMorph E=96: 4E, 2E, E, 16


def less_decoder(ndim: int, skips: list[int]) -> nn.Module:
    return UNetDecoder(ndim, skips, [128, 96, 64, 48], _REMAIN, n_convs=2)


def lk_decoder(ndim: int, skips: list[int]) -> nn.Module:
    return LKDecoder(ndim)


def vfa_decoder(ndim: int, skips: list[int]) -> nn.Module:
    return VFADecoder(ndim, skips, [96, 64, 48, 32])
