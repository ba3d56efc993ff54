"""Registration metrics on numpy arrays: overlap, surface distance, Jacobian and endpoint error."""

from regbench.metrics.displacement import endpoint_error
from regbench.metrics.jacobian import jacobian_determinant, nonpositive_percent, sdlogj
from regbench.metrics.overlap import dice_per_label
from regbench.metrics.surface import hd95_per_label

__all__ = [
    "dice_per_label",
    "endpoint_error",
    "hd95_per_label",
    "jacobian_determinant",
    "nonpositive_percent",
    "sdlogj",
]
