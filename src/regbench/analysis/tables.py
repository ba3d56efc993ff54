"""Per-pair summaries and the results table (mean ± std per method)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from regbench.io import atomic_path, write_csv

#: metric → (column title, decimals); the table's column order
METRICS = {
    "dice": ("Dice", 3),
    "hd95": ("HD95 (mm)", 2),
    "assd": ("ASSD (mm)", 2),
    "nsd": ("NSD", 3),
    "epe_mm": ("EPE (mm)", 2),
    "sdlogj": ("SDlogJ", 3),
    "nonpositive_jacobian_pct": ("% det J ≤ 0", 3),
    "ndv_pct": ("NDV (%)", 3),
    "runtime_s": ("Runtime (s)", 3),
}
BASELINES = ("identity", "ants")


def read_rows(paths) -> pd.DataFrame:
    """Concatenate metric / timing CSVs written by :mod:`regbench.evaluate`."""
    frames = []
    for path in paths:
        try:
            frames.append(
                pd.read_csv(
                    path,
                    dtype={"label": str, "seed": "Int64"},
                    keep_default_na=False,
                    na_values={"value": ["", "nan", "NaN"]},
                )
            )
        except (FileNotFoundError, pd.errors.EmptyDataError) as err:
            raise ValueError(f"{path}: cannot read metric rows ({err})") from None
    return pd.concat(frames, ignore_index=True)


def per_pair(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, seed, pair): label metrics averaged over labels (NaNs skipped).

    ``<metric>_nan`` counts the labels whose value was NaN (label empty in either map).
    """
    keys = ["task", "method", "seed", "pair_id"]
    rows = rows.assign(seed=rows["seed"].fillna(-1))
    wide = rows.pivot_table(index=keys, columns="metric", values="value", aggfunc="mean", dropna=False)
    nans = rows[rows["label"] != ""].assign(missing=lambda d: d["value"].isna())
    nans = nans.pivot_table(index=keys, columns="metric", values="missing", aggfunc="sum")
    wide = wide.join(nans.add_suffix("_nan")).reset_index()
    wide["seed"] = wide["seed"].replace(-1, pd.NA)
    appearance = {m: i for i, m in enumerate(dict.fromkeys(rows["method"]))}  # pivot sorted by name
    return wide.sort_values("method", key=lambda m: m.map(appearance), kind="stable", ignore_index=True)


def method_order(methods) -> list[str]:
    """Baselines first, then the models in the order given."""
    methods = list(dict.fromkeys(methods))
    return [m for m in BASELINES if m in methods] + [m for m in methods if m not in BASELINES]


def summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over pairs (and seeds) per task and method, with NaN counts."""
    records = []
    for (task, method), group in pairs.groupby(["task", "method"], sort=False):
        record = {
            "task": task,
            "method": method,
            "seeds": group["seed"].nunique(),
            "pairs": group["pair_id"].nunique(),
        }
        for metric in METRICS:
            if metric in group:
                record[f"{metric}_mean"] = group[metric].mean()
                record[f"{metric}_std"] = group[metric].std(ddof=1)
                if f"{metric}_nan" in group:
                    record[f"{metric}_nan"] = int(group[f"{metric}_nan"].sum())
        records.append(record)
    table = pd.DataFrame(records)
    order = {m: i for i, m in enumerate(method_order(table["method"]))}
    return table.sort_values(["task", "method"], key=lambda s: s.map(order) if s.name == "method" else s)


def markdown(table: pd.DataFrame) -> str:
    """The summary as a Markdown table, ``mean ± std`` per metric, NaN counts noted."""
    present = [m for m in METRICS if f"{m}_mean" in table]
    header = ["Task", "Method", "Pairs × seeds"] + [METRICS[m][0] for m in present]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [row["task"], row["method"], f"{row['pairs']} × {max(row['seeds'], 1)}"]
        for metric in present:
            digits = METRICS[metric][1]
            mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
            cell = "–" if np.isnan(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}"
            if row.get(f"{metric}_nan", 0):
                cell += f" ({int(row[f'{metric}_nan'])} NaN)"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(metric_paths, timing_paths, out_pairs, out_csv, out_md):
    """Write the per-pair table and the summary (CSV and Markdown); return both frames."""
    pairs = per_pair(read_rows([*metric_paths, *timing_paths]))
    table = summary(pairs)
    write_csv(out_pairs, pairs)
    write_csv(out_csv, table)
    with atomic_path(out_md) as tmp:
        Path(tmp).write_text(markdown(table))
    return pairs, table
