"""Model names: a backbone plus the registration-specific designs it uses, as letters in the
paper's order (``cnn``, ``cnn-D``, ``cnn-DWP``, ``cnn-DWCP``, ``swin-DWCPI``); paper names
(``VXM``, ``TM-DWCP``, ...) resolve to them. Torch-free: planning parses names without building.

Backbones come from :mod:`regbench.registry` (built in or from plugins). Designs: ``D``
dual-stream shared encoder, ``WP`` motion pyramid with feature warping, ``C`` local correlation,
``I`` iterative refinement, and beyond the paper ``S``: every predicted flow is a stationary
velocity integrated by scaling and squaring (diffeomorphic head).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from regbench import registry

#: letter -> what it adds, in the paper's order (W and P are one design, written around C)
DESIGNS = {
    "D": "dual-stream encoder: each image encoded alone by one shared encoder",
    "W": "motion pyramid, with the source features warped by the flow so far (with P)",
    "C": "local correlation volume at each pyramid level (needs WP)",
    "P": "motion pyramid: a flow predicted and refined at every level (with W)",
    "I": "iterative refinement at each pyramid level (needs WP)",
    "S": "stationary velocities integrated by scaling and squaring (diffeomorphic head)",
}
#: paper name -> canonical name, in the paper's order; these are the presets
DESIGN_ALIASES = {
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
}
#: the paper's backbones (in its order), then its designed variants, then VFA
_PAPER_BACKBONES = ("cnn", "mamba", "swin", "mambatm", "lk", "less")
#: design sets of the factorial grid, without and with the diffeomorphic head
DESIGN_SETS = ("", "D", "DWP", "DWPI", "DWCP", "DWCPI")


def aliases() -> dict[str, str]:
    """Paper (or plugin) name -> canonical name; the built-ins in the paper's order."""
    known = registry.backbones()
    plain = {known[b].alias: b for b in _PAPER_BACKBONES}
    others = {r.alias: r.name for r in known.values() if r.alias and r.name not in _PAPER_BACKBONES}
    return plain | DESIGN_ALIASES | others


#: the paper's 19 configurations (``models: all``)
PRESETS = (*(f"{b}" for b in _PAPER_BACKBONES), *DESIGN_ALIASES.values(), "vfa")


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

    @property
    def record(self) -> registry.Backbone:
        return registry.backbones()[self.backbone]


def parse(name: str) -> ModelSpec:
    """Parse a canonical name or paper alias; raise ``ValueError`` saying why it cannot be built."""
    name = aliases().get(name, name)
    match = re.fullmatch(r"(?P<backbone>[a-z][a-z0-9_]*)(?:-(?P<designs>[A-Z]+))?", name)
    if not match:
        raise ValueError(
            f"model {name!r}: expected '<backbone>[-<designs>]' such as 'cnn-DWCP', or a paper name "
            f"({', '.join(aliases())})"
        )
    backbone, designs = match["backbone"], match["designs"] or ""
    known = registry.backbones()
    if backbone not in known:
        raise ValueError(
            f"model {name!r}: unknown backbone {backbone!r} (available: {', '.join(known)})"
            + registry.broken(backbone)
        )
    if not re.fullmatch("".join(f"{letter}?" for letter in DESIGNS), designs):
        raise ValueError(
            f"model {name!r}: design letters must be a subset of {', '.join(DESIGNS)} in that order"
        )
    spec = ModelSpec(backbone, *(letter in designs for letter in "DWCIS"))
    record = known[backbone]
    if ("W" in designs) != ("P" in designs):
        raise ValueError(f"model {name!r}: the motion pyramid is one design, 'WP' (W and P together)")
    if spec.pyramid and not spec.dual:
        raise ValueError(f"model {name!r}: the motion pyramid warps source features, so it needs 'D'")
    if (spec.correlation or spec.iterative) and not spec.pyramid:
        raise ValueError(f"model {name!r}: 'C' and 'I' act inside the motion pyramid, so they need 'WP'")
    if record.separate_streams and spec.dual and not spec.pyramid:
        raise ValueError(
            f"model {name!r}: the {backbone!r} encoder has no parameters, so {backbone!r} already "
            f"encodes each image separately; use {backbone!r}"
        )
    if record.complete and designs:
        raise ValueError(
            f"model {name!r}: {backbone!r} is a complete model (its own matching decoder) and takes no "
            "design letters"
        )
    return spec


def canonical(name: str) -> str:
    """The canonical name of a model name or alias."""
    return parse(name).name


def grid(backbones=None, design_sets=DESIGN_SETS) -> list[str]:
    """Every well-defined model of ``backbones × design_sets`` (default: every registered
    backbone); cells such as ``less-D``, which is ``less``, or ``vfa-DWP`` are left out."""
    names = []
    for backbone, designs in itertools.product(backbones or registry.backbones(), design_sets):
        try:
            names.append(canonical(f"{backbone}-{designs}" if designs else backbone))
        except ValueError:
            continue
    return list(dict.fromkeys(names))


def divisor(name: str) -> int:
    """Every spatial size given to the model must be a multiple of this."""
    return parse(name).record.divisor
