"""Model names, presets and construction.

A model name is a backbone plus the registration-specific designs it uses, written as letters in
the paper's order: ``cnn``, ``cnn-D``, ``cnn-DWP``, ``cnn-DWCP``, ``swin-DWCPI``. Backbones:

- ``cnn``: VoxelMorph-style U-Net (VXM);
- ``swin``: TransMorph's Swin Transformer encoder (TM);
- ``mamba``: Mamba encoder with the VXM decoder (Mam-VXM);
- ``mambatm``: Mamba blocks in TransMorph's skeleton (Mam-TM);
- ``lk``: LKU-Net's large-kernel encoder;
- ``less``: LessNet's parameter-free pooling encoder, which encodes each image separately by
  construction (so ``less`` is already dual-stream);
- ``vfa``: a shared CNN encoder with vector-field-attention matching, a complete model by itself.

Designs: ``D`` dual-stream shared encoder, ``WP`` motion pyramid with feature warping, ``C`` local
correlation, ``I`` iterative refinement, and beyond the paper ``S``: every predicted flow is a
stationary velocity integrated by scaling and squaring (diffeomorphic head). Paper aliases (VXM,
TM-DWCP, ...) resolve to these names.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import torch.nn as nn

from regbench.models.blocks import FlowConv
from regbench.models.cnn import CNNEncoder
from regbench.models.decoders import PyramidDecoder, UNetDecoder
from regbench.models.lk import LKDecoder, LKEncoder
from regbench.models.mamba import MambaEncoder
from regbench.models.networks import DualStreamNet, EarlyFusionNet, LateFusion, RegistrationNet
from regbench.models.pooling import PoolingEncoder
from regbench.models.swin import SwinEncoder, TMDecoder
from regbench.models.vfa import VFADecoder

BACKBONES = ("cnn", "swin", "mamba", "mambatm", "lk", "less", "vfa")
#: paper name -> canonical name, in the paper's order; these are the presets
ALIASES = {
    "VXM": "cnn",
    "Mam-VXM": "mamba",
    "TM": "swin",
    "Mam-TM": "mambatm",
    "LKU": "lk",
    "LessNet": "less",
    "Dual": "cnn-D",
    "DWP": "cnn-DWP",
    "DWCP": "cnn-DWCP",
    "DWCPI": "cnn-DWCPI",
    "TM-Dual": "swin-D",
    "TM-DWP": "swin-DWP",
    "TM-DWCP": "swin-DWCP",
    "TM-DWCPI": "swin-DWCPI",
    "Less-DWP": "less-DWP",
    "Less-DWPI": "less-DWPI",
    "Less-DWCP": "less-DWCP",
    "Less-DWCPI": "less-DWCPI",
    "VFA": "vfa",
}
#: the paper's configurations (``models: all``)
PRESETS = tuple(ALIASES.values())
#: design sets of the factorial grid, without and with the diffeomorphic head
DESIGN_SETS = ("", "D", "DWP", "DWPI", "DWCP", "DWCPI")

# widths of the reference configurations (rethink-reg-spec §1.2-1.4)
_REMAIN = [32, 32]
_VXM_DECODER = [128, 96, 64, 32]
_TM_DECODER = [384, 192, 96, 16]  # TransMorph E=96: 4E, 2E, E, 16
_TM_PYRAMID = [96, 64, 32, 16]
_TM_PRE_CHANNELS = 128
_ITERATIONS = [1, 1, 2, 2]
_CORRELATION_RADIUS = 1
_INTEGRATION_STEPS = 7


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model name."""

    backbone: str
    dual: bool = False
    pyramid: bool = False
    correlation: bool = False
    iterative: bool = False
    diffeomorphic: bool = False

    @property
    def designs(self) -> str:
        """The design letters in the paper's order, '' for none."""
        letters = "D" * self.dual + "W" * self.pyramid + "C" * self.correlation
        return letters + "P" * self.pyramid + "I" * self.iterative + "S" * self.diffeomorphic

    @property
    def name(self) -> str:
        return f"{self.backbone}-{self.designs}" if self.designs else self.backbone


def parse(name: str) -> ModelSpec:
    """Parse a canonical name or paper alias; raise ``ValueError`` saying why it cannot be built."""
    name = ALIASES.get(name, name)
    match = re.fullmatch(r"(?P<backbone>[a-z]+)(?:-(?P<designs>[A-Z]+))?", name)
    if not match:
        raise ValueError(
            f"model {name!r}: expected '<backbone>[-<designs>]' such as 'cnn-DWCP', or a paper name "
            f"({', '.join(ALIASES)})"
        )
    backbone, designs = match["backbone"], match["designs"] or ""
    if backbone not in BACKBONES:
        raise ValueError(f"model {name!r}: unknown backbone {backbone!r} (available: {', '.join(BACKBONES)})")
    if not re.fullmatch("D?W?C?P?I?S?", designs):
        raise ValueError(f"model {name!r}: design letters must be a subset of D, W, C, P, I, S in that order")
    spec = ModelSpec(backbone, *(letter in designs for letter in "DWCIS"))
    if ("W" in designs) != ("P" in designs):
        raise ValueError(f"model {name!r}: the motion pyramid is one design, 'WP' (W and P together)")
    if spec.pyramid and not spec.dual:
        raise ValueError(f"model {name!r}: the motion pyramid warps source features, so it needs 'D'")
    if (spec.correlation or spec.iterative) and not spec.pyramid:
        raise ValueError(f"model {name!r}: 'C' and 'I' act inside the motion pyramid, so they need 'WP'")
    if backbone == "less" and spec.dual and not spec.pyramid:
        raise ValueError(
            f"model {name!r}: the pooling encoder has no parameters, so 'less' already encodes each "
            "image separately; use 'less'"
        )
    if backbone == "vfa" and designs:
        raise ValueError(
            f"model {name!r}: 'vfa' is a complete model (shared encoder, matching pyramid) and has no "
            "flow convolution for the diffeomorphic head"
        )
    return spec


def canonical(name: str) -> str:
    """The canonical name of a model name or alias."""
    return parse(name).name


def grid(backbones=BACKBONES, design_sets=DESIGN_SETS) -> list[str]:
    """Every well-defined model of ``backbones × design_sets`` (cells such as ``less-D``, which
    is ``less``, or ``vfa-DWP`` are left out)."""
    names = []
    for backbone, designs in itertools.product(backbones, design_sets):
        try:
            names.append(canonical(f"{backbone}-{designs}" if designs else backbone))
        except ValueError:
            continue
    return list(dict.fromkeys(names))


def divisor(name: str) -> int:
    """Every spatial size given to the model must be a multiple of this (1/32 levels for Swin)."""
    return 32 if parse(name).backbone in ("swin", "mambatm") else 16


def _stream_encoder(backbone: str, ndim: int, in_channels: int, window) -> nn.Module:
    """The backbone's encoder: two-channel for early fusion, one-channel (shared) for ``D``."""
    single = in_channels == 2
    if backbone == "cnn":
        return CNNEncoder(ndim, in_channels, [16, 32, 64, 96, 128] if single else [8, 16, 32, 48, 64])
    if backbone in ("swin", "mambatm"):
        mamba = backbone == "mambatm"
        return SwinEncoder(
            ndim, in_channels, embed_dim=96 if single else 48, depths=(2, 2, 2, 2) if mamba else (2, 2, 4, 2),
            window=window, mixer="mamba" if mamba else "attention",
        )  # fmt: skip
    if backbone == "mamba":
        return MambaEncoder(ndim, in_channels)
    if backbone == "lk":
        return LKEncoder(ndim, in_channels)
    if backbone == "less":
        return PoolingEncoder(ndim)
    return CNNEncoder(ndim, 1, [16, 48, 64, 96, 128])  # vfa


def _fusion_decoder(backbone: str, ndim: int, skips: list[int]) -> nn.Module:
    """A single-flow decoder over coarse-to-fine skips."""
    if backbone in ("swin", "mambatm"):
        return TMDecoder(ndim, skips, _TM_DECODER)
    if backbone == "less":
        return UNetDecoder(ndim, skips, [128, 96, 64, 48], _REMAIN, n_convs=2)
    return UNetDecoder(ndim, skips, _VXM_DECODER, _REMAIN)


def build(name: str, ndim: int, window: tuple[int, ...] | None = None) -> RegistrationNet:
    """Construct the network ``name`` for ``ndim``-dimensional images.

    ``window`` is the Swin attention window (default: (5, 6, 7) in 3D, (8, 8) in 2D).
    """
    spec = parse(name)
    if ndim not in (2, 3):
        raise ValueError(f"model {name!r}: ndim must be 2 or 3, got {ndim}")
    backbone = spec.backbone
    multiple = divisor(name)
    if not spec.dual and backbone not in ("less", "vfa"):
        encoder = _stream_encoder(backbone, ndim, 2, window)
        widths = encoder.feature_widths[::-1]
        decoder = LKDecoder(ndim) if backbone == "lk" else _fusion_decoder(backbone, ndim, widths)
        model = EarlyFusionNet(ndim, encoder, decoder, multiple)
    else:
        encoder = _stream_encoder(backbone, ndim, 1, window)
        widths = encoder.feature_widths[::-1]
        if backbone == "vfa":
            decoder = VFADecoder(ndim, widths, [96, 64, 48, 32])
        elif not spec.pyramid:
            decoder = LateFusion(_fusion_decoder(backbone, ndim, [2 * w for w in widths]))
        else:
            tm = backbone in ("swin", "mambatm")
            decoder = PyramidDecoder(
                ndim,
                widths,
                _TM_PYRAMID if tm else [128, 96, 64, 48] if backbone == "less" else _VXM_DECODER,
                correlation_radius=_CORRELATION_RADIUS if spec.correlation else None,
                iterations=_ITERATIONS if spec.iterative else None,
                n_convs=2 if backbone == "less" else 1,
                pre_channels=_TM_PRE_CHANNELS if tm else None,
            )
        model = DualStreamNet(ndim, encoder, decoder, multiple)
    if spec.diffeomorphic:
        for module in model.modules():
            if isinstance(module, FlowConv):
                module.integration_steps = _INTEGRATION_STEPS
    return model


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
