"""Stress-test analysis of one task: every metric against the stress magnitude per method, and
where each method breaks down.

A method breaks down at the smallest magnitude where the mean of the task's primary metric over
the cases is worse than ``breakdown_fraction`` of its unstressed (magnitude 0, or smallest
magnitude) value: below ``f · v0`` for metrics where higher is better, above ``v0 / f`` for the
others.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from regbench.analysis import COSTS, METRICS, figures, tables
from regbench.data.manifest import Manifest
from regbench.io import atomic_path, write_csv

#: curve panels, in order, where present
CURVES = (
    "epe_mm",
    "epe_p95_mm",
    "dice",
    "hd95",
    "tre_mm",
    "tre_p95_mm",
    "sdlogj",
    "nonpositive_jacobian_pct",
    "ndv_pct",
)


def stressed_pairs(manifest_paths, metric_paths) -> pd.DataFrame:
    """Per-pair values of every stressed set with its ``mode``, ``case`` and ``magnitude_mm``."""
    info = []
    for path in manifest_paths:
        manifest = Manifest.load(path)
        if "stress" not in manifest.data:
            raise ValueError(f"{path}: not a stressed set (no 'stress' entry)")
        task, mode = manifest.data["task"], manifest.data["stress"]["mode"]
        info += [
            dict(task=task, pair_id=p["id"], mode=mode, case=p["case"], magnitude_mm=p["magnitude_mm"])
            for p in manifest.pairs
        ]
    pairs = tables.per_pair(tables.read_rows(metric_paths))
    return pairs.merge(pd.DataFrame(info), on=["task", "pair_id"], how="left", validate="many_to_one")


def breakdown(curve: pd.Series, direction: int, fraction: float) -> float:
    """The first magnitude (index of ``curve``, sorted) where the value is worse than ``fraction``
    of the first one; NaN when it never is."""
    curve = curve.sort_index().dropna()
    if curve.empty:
        return np.nan
    reference = curve.iloc[0]
    worse = curve < fraction * reference if direction > 0 else curve > reference / fraction
    return float(curve.index[worse.to_numpy()][0]) if worse.any() else np.nan


def summary(pairs: pd.DataFrame, metric: str, fraction: float) -> pd.DataFrame:
    """Per mode and method: the primary metric's mean at each magnitude and the breakdown point."""
    records = []
    for (mode, method), group in pairs.groupby(["mode", "method"], sort=False):
        curve = group.groupby("magnitude_mm")[metric].mean()
        record = {"mode": mode, "method": method, "metric": metric}
        record |= {f"{m:g} mm": v for m, v in curve.items()}
        record["breakdown_mm"] = breakdown(curve, METRICS[metric].direction, fraction)
        records.append(record)
    table = pd.DataFrame(records)
    magnitudes = sorted((c for c in table if c.endswith(" mm")), key=lambda c: float(c[:-3]))
    table = table[["mode", "method", "metric", *magnitudes, "breakdown_mm"]]
    order = {m: i for i, m in enumerate(tables.method_order(table["method"]))}
    return table.sort_values(["mode", "method"], key=lambda s: s.map(order) if s.name == "method" else s)


def markdown(table: pd.DataFrame, metric: str, fraction: float) -> str:
    digits = METRICS[metric].decimals
    lines = []
    for mode, part in table.groupby("mode", sort=False):
        magnitudes = [c for c in part.columns if c.endswith(" mm") and part[c].notna().any()]
        header = ["Method", *magnitudes, "Breakdown (mm)"]
        lines += [f"### {mode}: {METRICS[metric].title} by magnitude", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        for _, row in part.iterrows():
            cells = [f"{row[m]:.{digits}f}" for m in magnitudes]
            point = "none" if np.isnan(row["breakdown_mm"]) else f"{row['breakdown_mm']:g}"
            lines.append("| " + " | ".join([row["method"], *cells, point]) + " |")
        lines.append("")
    lines.append(
        f"Breakdown: the smallest magnitude where the mean {METRICS[metric].title} is worse than "
        f"{fraction:g} × its unstressed value; none = not within the grid."
    )
    return "\n".join(lines) + "\n"


def curves_figure(pairs: pd.DataFrame, path) -> None:
    """Rows: modes; columns: metrics; one line per method (mean over cases, 95% CI band)."""
    modes = list(dict.fromkeys(pairs["mode"]))
    metrics = [m for m in CURVES if m in pairs and pairs[m].notna().any() and m not in COSTS]
    order = tables.method_order(pairs["method"])
    fig, axes = plt.subplots(
        len(modes), len(metrics), figsize=(2.8 * len(metrics), 2.6 * len(modes)), squeeze=False
    )
    for row, mode in enumerate(modes):
        data = pairs[pairs["mode"] == mode]
        for col, metric in enumerate(metrics):
            ax = axes[row, col]
            sns.lineplot(
                data=data,
                x="magnitude_mm",
                y=metric,
                hue="method",
                hue_order=order,
                marker="o",
                errorbar=("ci", 95),
                n_boot=200,
                seed=0,
                ax=ax,
                legend=(row, col) == (0, 0),
            )
            ax.set(xlabel=f"{mode} magnitude (mm)", ylabel="", title=METRICS[metric].title)
    legend = axes[0, 0].get_legend()
    if legend:
        handles, labels = axes[0, 0].get_legend_handles_labels()
        legend.remove()
        fig.legend(handles, labels, loc="lower center", ncol=len(order), frameon=False)
    fig.suptitle(f"{pairs['task'].iloc[0].split('/')[0]}: stress tests")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    figures.save(fig, path)


def aggregate_stress(manifest_paths, metric_paths, folder, settings: dict) -> str:
    """Write ``summary.csv``, ``summary.md`` and ``curves.png``/``.pdf`` into ``folder``."""
    folder = Path(folder)
    metric, fraction = settings["primary_metric"], settings["breakdown_fraction"]
    pairs = stressed_pairs(manifest_paths, metric_paths)
    if metric not in pairs:
        raise ValueError(f"primary metric {metric!r}: not among the stressed sets' metrics")
    table = summary(pairs, metric, fraction)
    write_csv(folder / "summary.csv", table)
    text = markdown(table, metric, fraction)
    with atomic_path(folder / "summary.md") as tmp:
        Path(tmp).write_text(text)
    curves_figure(pairs, folder / "curves.png")
    return text
