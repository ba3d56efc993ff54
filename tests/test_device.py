import math
import sys

import numpy as np
import pytest
import torch

from regbench.device import measure


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory is read from Linux /proc")
def test_measure_gives_the_peak_memory_of_the_block_not_of_the_process():
    resident = next(
        int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmRSS:")
    )
    before = np.ones(50_000_000)  # 400 MB, freed before the block: must not count
    del before
    with measure(torch.device("cpu")) as small:
        np.ones(1000).sum()
    with measure(torch.device("cpu")) as large:
        np.ones(25_000_000).sum()  # 200 MB
    assert small["peak_memory_mb"] < resident + 200
    assert large["peak_memory_mb"] - small["peak_memory_mb"] > 150
    assert small["runtime_s"] >= 0 and large["runtime_s"] > small["runtime_s"]
    assert not math.isnan(small["peak_memory_mb"])
