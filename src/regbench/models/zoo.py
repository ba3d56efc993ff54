"""Building a network from its name (:mod:`regbench.names`) and its backbone's record
(:mod:`regbench.registry`): early fusion, dual stream with late fusion, or the motion pyramid
with correlation and iterations, and the diffeomorphic head."""

from __future__ import annotations

import torch.nn as nn

from regbench import registry
from regbench.models.blocks import FlowConv
from regbench.models.decoders import PyramidDecoder
from regbench.models.networks import DualStreamNet, EarlyFusionNet, LateFusion, RegistrationNet
from regbench.names import PRESETS, canonical, parse

__all__ = ["PRESETS", "build", "canonical", "parameter_count"]

#: iterations per pyramid level of the ``I`` design, coarse to fine (the reference's default)
ITERATIONS = (1, 1, 2, 2)
_CORRELATION_RADIUS = 1
_INTEGRATION_STEPS = 7


def architecture(settings: dict) -> dict:
    """The keyword arguments of :func:`build` among a model's training settings."""
    return {
        "window": settings.get("swin_window"),
        "pyramid_iterations": settings.get("pyramid_iterations"),
        "normalise_correlation": settings.get("normalise_correlation", False),
    }


def build(
    name: str,
    ndim: int,
    window: tuple[int, ...] | None = None,
    pyramid_iterations: list[int] | None = None,
    normalise_correlation: bool = False,
) -> RegistrationNet:
    """Construct the network ``name`` for ``ndim``-dimensional images.

    ``window`` is the Swin attention window (default: (5, 6, 7) in 3D, (8, 8) in 2D);
    ``pyramid_iterations`` the iterations per level of the ``I`` design (default
    :data:`ITERATIONS`); ``normalise_correlation``: the ``C`` design correlates unit vectors.
    These change no parameter count.
    """
    spec = parse(name)
    if ndim not in (2, 3):
        raise ValueError(f"model {name!r}: ndim must be 2 or 3, got {ndim}")
    record = spec.record
    owner = f"backbone {record.name!r}" + (f" of plugin {record.plugin}" if record.plugin else "")
    factory = lambda reference: registry.resolve(reference, owner)  # noqa: E731
    single_stream = not (spec.dual or record.separate_streams or record.complete)
    encoder = factory(record.encoder)(ndim, 2 if single_stream else 1, window)
    widths = list(encoder.feature_widths[::-1])
    if single_stream:
        decoder = factory(record.early_decoder or record.decoder)(ndim, widths)
        model = EarlyFusionNet(ndim, encoder, decoder, record.divisor)
    else:
        if record.complete:
            decoder = factory(record.decoder)(ndim, widths)
        elif not spec.pyramid:
            decoder = LateFusion(factory(record.decoder)(ndim, [2 * w for w in widths]))
        else:
            pyramid_widths, n_convs, pre_channels = record.pyramid
            decoder = PyramidDecoder(
                ndim,
                widths,
                list(pyramid_widths),
                correlation_radius=_CORRELATION_RADIUS if spec.correlation else None,
                iterations=list(pyramid_iterations or ITERATIONS) if spec.iterative else None,
                n_convs=n_convs,
                pre_channels=pre_channels,
                normalise_correlation=normalise_correlation,
            )
        model = DualStreamNet(ndim, encoder, decoder, record.divisor)
    if spec.diffeomorphic:
        for module in model.modules():
            if isinstance(module, FlowConv):
                module.integration_steps = _INTEGRATION_STEPS
    return model


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
