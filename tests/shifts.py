"""A known displacement for the methods without training: a smooth random image and the same
image moved by a constant shift (in voxels), so that ``moving(x + shift) = fixed(x)``."""

import numpy as np
from scipy import ndimage


def shifted_pair(shape, shift, seed=0):
    rng = np.random.default_rng(seed)
    fixed = ndimage.gaussian_filter(rng.random(shape), 3)
    fixed = ((fixed - fixed.min()) / (fixed.max() - fixed.min())).astype(np.float32)
    moving = ndimage.shift(fixed, shift, order=3, mode="nearest").astype(np.float32)
    return fixed, moving


def mean_inside(disp, margin=6):
    """The field's mean per component, away from the border."""
    inner = tuple(slice(margin, -margin) for _ in disp.shape[1:])
    return disp[(slice(None), *inner)].reshape(disp.shape[0], -1).mean(1)
