"""regbench: a reproducible benchmark for learning-based medical image registration."""

__version__ = "0.1.0"
