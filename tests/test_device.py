import math
import mmap
import sys

import numpy as np
import pytest
import torch

from regbench.device import measure


def _touched_pages(megabytes: int) -> mmap.mmap:
    """Fresh anonymous pages, all resident: memory the allocator cannot serve from its free lists
    (a process that freed gigabytes earlier may hand out a plain numpy array without new pages)."""
    pages = mmap.mmap(-1, megabytes * 2**20)
    np.frombuffer(pages, dtype=np.uint8)[:] = 1
    return pages


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory is read from Linux /proc")
def test_measure_gives_the_peak_memory_of_the_block_not_of_the_process():
    resident = next(
        int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmRSS:")
    )
    _touched_pages(400).close()  # freed before the block: must not count
    with measure(torch.device("cpu")) as small:
        np.ones(1000).sum()
    with measure(torch.device("cpu")) as large:
        _touched_pages(200).close()
    assert small["peak_memory_mb"] < resident + 200
    assert large["peak_memory_mb"] - small["peak_memory_mb"] > 150
    assert small["runtime_s"] >= 0 and large["runtime_s"] > small["runtime_s"]
    assert not math.isnan(small["peak_memory_mb"])
