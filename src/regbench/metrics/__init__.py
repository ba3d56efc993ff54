"""Registration metrics on numpy arrays: overlap, surface distance, Jacobian, landmarks and
endpoint error."""

from regbench.metrics.displacement import endpoint_errors
from regbench.metrics.image import intensity_metrics
from regbench.metrics.jacobian import (
    jacobian_determinant,
    non_diffeomorphic_volume,
    nonpositive_percent,
    sdlogj,
)
from regbench.metrics.landmarks import target_registration_error
from regbench.metrics.overlap import dice_per_label
from regbench.metrics.surface import surface_metrics_per_label

__all__ = [
    "dice_per_label",
    "endpoint_errors",
    "intensity_metrics",
    "jacobian_determinant",
    "non_diffeomorphic_volume",
    "nonpositive_percent",
    "sdlogj",
    "surface_metrics_per_label",
    "target_registration_error",
]
