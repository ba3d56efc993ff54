"""Model names, presets and construction.

A model name is a backbone plus the registration-specific designs it uses, written as letters in
the paper's order: ``cnn``, ``cnn-D``, ``cnn-DWP``, ``cnn-DWCP``, ``cnn-DWCPI``. Backbones: ``cnn``
(VoxelMorph-style U-Net), ``lk`` (LKU-Net), ``less`` (LessNet's parameter-free pooling encoder,
which encodes each image separately by construction). Designs: ``D``
dual-stream shared encoder, ``WP`` motion pyramid with feature warping, ``C`` local correlation,
``I`` iterative refinement. Paper aliases (VXM, Dual, DWP, ...) resolve to these names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch.nn as nn

from regbench.models.cnn import CNNEncoder
from regbench.models.lk import LKUNet
from regbench.models.networks import DualStreamNet, EarlyFusionUNet, RegistrationNet
from regbench.models.pooling import PoolingEncoder

BACKBONES = ("cnn", "lk", "less")
ALIASES = {
    "VXM": "cnn",
    "Dual": "cnn-D",
    "DWP": "cnn-DWP",
    "DWCP": "cnn-DWCP",
    "DWCPI": "cnn-DWCPI",
    "LKU": "lk",
    "LessNet": "less",
    "Less-DWP": "less-DWP",
    "Less-DWPI": "less-DWPI",
    "Less-DWCP": "less-DWCP",
    "Less-DWCPI": "less-DWCPI",
}
#: every name that builds, in the paper's order
PRESETS = (
    "cnn", "cnn-D", "cnn-DWP", "cnn-DWPI", "cnn-DWCP", "cnn-DWCPI", "lk",
    "less", "less-DWP", "less-DWPI", "less-DWCP", "less-DWCPI",
)  # fmt: skip

# widths of the reference configurations (rethink-reg-spec §1.2-1.4)
_REMAIN = [32, 32]
_SINGLE_STREAM = dict(encoder=[16, 32, 64, 96, 128], decoder=[128, 96, 64, 32], remain=_REMAIN)
_CNN_STREAM = [8, 16, 32, 48, 64]
_DECODERS = {  # backbone -> (decoder widths, convolutions per block)
    "cnn": ([128, 96, 64, 32], 1),
    "less": ([128, 96, 64, 48], 2),
}
_ITERATIONS = [1, 1, 2, 2]
_CORRELATION_RADIUS = 1


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model name."""

    backbone: str
    dual: bool = False
    pyramid: bool = False
    correlation: bool = False
    iterative: bool = False

    @property
    def name(self) -> str:
        letters = "D" * self.dual + "W" * self.pyramid + "C" * self.correlation
        letters += "P" * self.pyramid + "I" * self.iterative
        return f"{self.backbone}-{letters}" if letters else self.backbone


def parse(name: str) -> ModelSpec:
    """Parse a canonical name or paper alias; raise ``ValueError`` saying why it cannot be built."""
    name = ALIASES.get(name, name)
    match = re.fullmatch(r"(?P<backbone>[a-z]+)(?:-(?P<designs>[A-Z]+))?", name)
    if not match:
        raise ValueError(
            f"model {name!r}: expected '<backbone>[-<designs>]' such as 'cnn-DWCP', or an alias "
            f"({', '.join(ALIASES)})"
        )
    backbone, designs = match["backbone"], match["designs"] or ""
    if backbone not in BACKBONES:
        raise ValueError(f"model {name!r}: unknown backbone {backbone!r} (available: {', '.join(BACKBONES)})")
    if not re.fullmatch("D?W?C?P?I?", designs):
        raise ValueError(f"model {name!r}: design letters must be a subset of D, W, C, P, I in that order")
    spec = ModelSpec(backbone, "D" in designs, "W" in designs, "C" in designs, "I" in designs)
    if ("W" in designs) != ("P" in designs):
        raise ValueError(f"model {name!r}: the motion pyramid is one design, 'WP' (W and P together)")
    if spec.pyramid and not spec.dual:
        raise ValueError(f"model {name!r}: the motion pyramid warps source features, so it needs 'D'")
    if (spec.correlation or spec.iterative) and not spec.pyramid:
        raise ValueError(f"model {name!r}: 'C' and 'I' act inside the motion pyramid, so they need 'WP'")
    if backbone == "lk" and designs:
        raise ValueError(f"model {name!r}: registration designs are not available for the 'lk' backbone yet")
    if backbone == "less" and designs == "D":
        raise ValueError(
            f"model {name!r}: the pooling encoder has no parameters, so 'less' already encodes each "
            "image separately; use 'less'"
        )
    return spec


def canonical(name: str) -> str:
    """The canonical name of a model name or alias."""
    return parse(name).name


def build(name: str, ndim: int) -> RegistrationNet:
    """Construct the network ``name`` for ``ndim``-dimensional images."""
    spec = parse(name)
    if ndim not in (2, 3):
        raise ValueError(f"model {name!r}: ndim must be 2 or 3, got {ndim}")
    if spec.backbone == "lk":
        return LKUNet(ndim)
    if spec.backbone == "cnn" and not spec.dual:
        return EarlyFusionUNet(ndim, **_SINGLE_STREAM)
    encoder = CNNEncoder(ndim, 1, _CNN_STREAM) if spec.backbone == "cnn" else PoolingEncoder(ndim)
    decoder, n_convs = _DECODERS[spec.backbone]
    return DualStreamNet(
        ndim,
        encoder,
        decoder,
        _REMAIN,
        pyramid=spec.pyramid,
        correlation_radius=_CORRELATION_RADIUS if spec.correlation else None,
        iterations=_ITERATIONS if spec.iterative else None,
        n_convs=n_convs,
    )


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
