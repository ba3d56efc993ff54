"""Device and thread selection shared by training and registration."""

from __future__ import annotations

import os

import torch


def select(device: str = "auto", threads: int | None = None) -> torch.device:
    """``auto`` picks CUDA when present; ``threads`` caps CPU threads (deterministic CPU runs)."""
    if threads:
        torch.set_num_threads(int(threads))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    # what the scheduler gave this job, for its log
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
    print(
        f"device {device} (CUDA_VISIBLE_DEVICES={visible}, {torch.get_num_threads()} CPU threads)", flush=True
    )
    return torch.device(device)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
