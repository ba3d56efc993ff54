"""From per-pair metric rows to statistics, tables and figures."""

from typing import NamedTuple


class Metric(NamedTuple):
    title: str
    decimals: int
    #: +1 when higher is better, −1 when lower is better
    direction: int
    #: a column of the summary tables (the others are in comparison.csv and the stress analysis)
    in_table: bool = True


#: every pair-level metric the evaluation writes, in the tables' column order
METRICS = {
    "dice": Metric("Dice", 3, 1),
    "hd95": Metric("HD95 (mm)", 2, -1),
    "hd95_voxels": Metric("HD95 (voxels)", 2, -1),
    "assd": Metric("ASSD (mm)", 2, -1),
    "nsd": Metric("NSD", 3, 1),
    "lost_labels": Metric("Lost labels", 2, -1, False),
    "tre_mm": Metric("TRE (mm)", 2, -1),
    "tre_p95_mm": Metric("TRE p95 (mm)", 2, -1, False),
    "epe_mm": Metric("EPE (mm)", 2, -1),
    "epe_p95_mm": Metric("EPE p95 (mm)", 2, -1, False),
    "epe_all_mm": Metric("EPE, whole grid (mm)", 2, -1, False),
    "epe_all_p95_mm": Metric("EPE p95, whole grid (mm)", 2, -1, False),
    "sdlogj": Metric("SDlogJ", 3, -1),
    "nonpositive_jacobian_pct": Metric("% det J ≤ 0", 3, -1),
    "ndv_pct": Metric("NDV (%)", 3, -1),
    "psnr": Metric("PSNR (dB)", 2, 1),
    "ssim": Metric("SSIM", 3, 1),
    "mae": Metric("MAE", 4, -1),
    "runtime_s": Metric("Runtime (s)", 3, -1),
    "peak_memory_mb": Metric("Peak memory (MB)", 0, -1),
}
#: the cost columns among METRICS (no part of the accuracy analyses)
COSTS = ("runtime_s", "peak_memory_mb")
