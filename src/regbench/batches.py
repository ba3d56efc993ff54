"""Training batches streamed from the preprocessed images: each iteration's batch is read from
disk when it is needed, so host and device memory follow the batch size, not the number of
training subjects.

Batch ``it`` is a pure function of ``(seed, it)``: its pairs are drawn from a generator seeded by
both, then only those images are read. The batches can therefore be read by DataLoader workers,
in any order and after a resume, and training stays bit-identical on the CPU.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from regbench.data.manifest import Manifest


def draw_pairs(n: int, rng: np.random.Generator, batch: int, flip: bool, pairs=None):
    """Indices ``(first, second)`` of ``batch`` random ordered pairs among ``n`` subjects: of
    distinct subjects, or drawn from ``pairs`` (``[k, 2]`` indices) in a random direction; and
    whether the batch is flipped along axis 0."""
    if pairs is None:
        first = rng.integers(0, n, size=batch)
        second = (first + rng.integers(1, n, size=batch)) % n
    else:
        chosen = pairs[rng.integers(0, len(pairs), size=batch)]
        swap = rng.random(batch) < 0.5
        first, second = np.where(swap, chosen[:, 1], chosen[:, 0]), np.where(swap, chosen[:, 0], chosen[:, 1])
    flipped = bool(flip and rng.random() < 0.5)
    return first, second, flipped


class TrainingBatches(Dataset):
    """Item ``k``: the ``(source, target)`` batch ``[B, 1, ...]`` of iteration ``start + k``."""

    def __init__(
        self, manifest: Manifest, subjects: list[str], settings: dict, seed: int, start: int, pairs=None
    ):
        self.manifest, self.subjects, self.pairs = manifest, subjects, pairs
        self.seed, self.start = seed, start
        self.batch, self.flip = settings["batch_size"], settings.get("flip", True)
        self.length = max(settings["iterations"] - start, 0)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.start + k])
        first, second, flipped = draw_pairs(len(self.subjects), rng, self.batch, self.flip, self.pairs)
        cache: dict[int, np.ndarray] = {}  # a subject drawn twice in one batch is read once
        for i in (*first, *second):
            if i not in cache:
                cache[i] = self.manifest.image(self.subjects[i])
        source = np.stack([cache[i] for i in first])[:, None]
        target = np.stack([cache[i] for i in second])[:, None]
        if flipped:
            source, target = source[:, :, ::-1], target[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(source)), torch.from_numpy(np.ascontiguousarray(target))


def loader(batches: TrainingBatches, workers: int, pin: bool) -> DataLoader:
    """Iterations in order; ``workers`` processes read ahead (2 batches each), into pinned
    memory where ``pin`` (CUDA)."""
    return DataLoader(
        batches,
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin,
        prefetch_factor=2 if workers else None,
    )
