"""Device and thread selection shared by training and registration."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch


def select(device: str = "auto", threads: int | None = None, announce: bool = True) -> torch.device:
    """``auto`` picks CUDA when present; ``threads`` caps CPU threads (deterministic CPU runs);
    ``announce``: print the choice (once per job, not per pair)."""
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
    if announce:
        threads = torch.get_num_threads()
        print(f"device {device} (CUDA_VISIBLE_DEVICES={visible}, {threads} CPU threads)", flush=True)
    return torch.device(device)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_rss_mb(reset: bool = False) -> float:
    """The process's peak resident memory (Linux ``VmHWM``) in MB; ``reset`` restarts it from the
    current resident size. NaN where /proc does not offer it."""
    try:
        if reset:
            Path("/proc/self/clear_refs").write_text("5")
            return float("nan")
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@contextmanager
def measure(device: torch.device) -> Iterator[dict[str, float]]:
    """Runtime and peak memory of the block, filled into the yielded dict on exit:
    ``runtime_s`` (GPU-synchronised) and ``peak_memory_mb``: on CUDA the peak allocated GPU memory,
    on CPU the process's peak resident memory (which includes the loaded model and libraries)."""
    costs: dict[str, float] = {}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        _peak_rss_mb(reset=True)
    synchronize(device)
    tick = time.perf_counter()
    yield costs
    synchronize(device)
    costs["runtime_s"] = time.perf_counter() - tick
    if device.type == "cuda":
        costs["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        costs["peak_memory_mb"] = _peak_rss_mb()
