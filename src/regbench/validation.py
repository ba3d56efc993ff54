"""Validation during training: every ``val_every`` iterations the network registers the task's
validation pairs, and their similarity (the training similarity loss, lower is better), mean
Dice (where the subjects have label maps) and folding (% of voxels with det J ≤ 0) are logged.
It is for watching convergence, and for choosing λ per model where a study asks for it
(:mod:`regbench.selection`, from the last row): the final model of a run is the one evaluated.

Validation pairs come from the manifest's ``val`` split: each validation subject's image is moved
onto the next one's (cyclically), the first ``val_pairs`` of those pairs. A task without validation
subjects (the intra-patient Learn2Reg sets) logs no validation rows.
"""

from __future__ import annotations

import numpy as np
import torch

from regbench import metrics
from regbench.data.manifest import Manifest
from regbench.models.fields import warp

VAL_LOG_HEADER = "iteration,pairs,similarity,dice,folding_pct\n"


def validation_pairs(manifest: Manifest, count: int) -> list[tuple[str, str]]:
    """``(fixed, moving)`` subject pairs of the ``val`` split, at most ``count``."""
    ids = manifest.split("val")
    if len(ids) < 2:
        return []
    return [(ids[(k + 1) % len(ids)], ids[k]) for k in range(len(ids))][:count]


class Validation:
    """The validation pairs of a manifest, read once and kept on the host (a few images)."""

    def __init__(self, manifest: Manifest, count: int, similarity, device: torch.device):
        self.similarity, self.device = similarity, device
        self.labels = list(manifest.labels)
        self.pairs = []
        for fixed, moving in validation_pairs(manifest, count):
            images = [torch.from_numpy(manifest.image(s))[None, None] for s in (fixed, moving)]
            label_maps = [manifest.label_map(s) for s in (fixed, moving)]
            self.pairs.append((images, label_maps))

    def __bool__(self) -> bool:
        return bool(self.pairs)

    @torch.no_grad()
    def __call__(self, model, iteration: int, autocast_dtype: torch.dtype | None) -> str:
        """One log row: the mean similarity and Dice over the validation pairs (Dice blank
        where no pair has a label present in both its images)."""
        was_training = model.training
        model.eval()
        similarities, dices, folding = [], [], []
        for (fixed, moving), (fixed_labels, moving_labels) in self.pairs:
            fixed, moving = fixed.to(self.device), moving.to(self.device)
            with torch.autocast(
                self.device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None
            ):
                disp = model.predict(moving, fixed).float()
            similarities.append(float(self.similarity(warp(moving, disp), fixed)))
            folding.append(metrics.nonpositive_percent(metrics.jacobian_determinant(disp[0].cpu().numpy())))
            scored = [
                label
                for label in self.labels
                if (fixed_labels == label).any() and (moving_labels == label).any()
            ]
            if scored:
                moved = torch.from_numpy(moving_labels.astype(np.float32))[None, None].to(self.device)
                warped = warp(moved, disp, "nearest")[0, 0].round().cpu().numpy().astype(np.int16)
                per_label = metrics.dice_per_label(fixed_labels, warped, scored)
                dices.append(float(np.mean(list(per_label.values()))))
        model.train(was_training)
        dice = f"{np.mean(dices):.6f}" if dices else ""
        return f"{iteration},{len(self.pairs)},{np.mean(similarities):.6f},{dice},{np.mean(folding):.6f}\n"
