"""Registration networks: fields, blocks, backbones, decoders and the model zoo."""

from regbench.models.zoo import PRESETS, build, canonical, parameter_count, parse

__all__ = ["PRESETS", "build", "canonical", "parameter_count", "parse"]
