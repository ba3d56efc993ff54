"""Local correlation volume (design ``C``)."""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F


def local_correlation(target: torch.Tensor, source: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """Scaled dot products between ``target`` and ``source`` shifted by every offset in [-r, r]^ndim.

    ``out[:, o](p) = <target(p), source(p + o)> / sqrt(C)``, offsets enumerated lexicographically
    (last axis fastest), ``source`` zero-padded. One offset at a time, so the extra memory is one
    product per offset instead of a ``C·(2r+1)^ndim`` unfolded copy.
    """
    ndim = target.ndim - 2
    spatial = target.shape[2:]
    padded = F.pad(source, [radius] * (2 * ndim))
    scale = 1.0 / math.sqrt(target.shape[1])
    volumes = []
    for offset in itertools.product(range(2 * radius + 1), repeat=ndim):
        window = padded[(..., *(slice(o, o + n) for o, n in zip(offset, spatial)))]
        volumes.append((target * window).sum(dim=1) * scale)
    return torch.stack(volumes, dim=1)
