"""Per-pair summaries and the results table of a task, in the paper's layout.

The table has one row per method in row groups (reference methods, external methods, the
baseline, trend-driven backbones, registration-specific designs, backbones with designs) and one
column per metric: mean ± std over pairs (of the seed-averaged values) and, with several seeds,
[the std between the seeds' means]. The best learned method per column is bold; a marker says the
method differs from the baseline significantly (:func:`regbench.analysis.stats.compare`): ↑
better, ↓ worse. Label metrics are averaged over labels within a pair first, skipping the labels that
were not scored (absent from the fixed or the moving map); how many were skipped, and how many
structures registration lost (scored as failures), is noted under the table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from regbench import registry
from regbench.analysis import METRICS
from regbench.io import atomic_path, write_csv
from regbench.names import aliases, parse

GROUPS = (
    "Reference",
    "External methods",
    "Baseline",
    "Trend-driven backbones",
    "Registration-specific designs",
    "Backbones with designs",
)
#: the groups of the study's own networks (bold marks the best of them)
LEARNED = GROUPS[2:]
SEED_NOTE = "; [std between the seeds' means]: how much training randomness moves the number"
ONE_SEED_NOTE = "One training seed per network: training variance is not in these numbers or tests."
MARKERS = {"better": "↑", "worse": "↓", "": ""}


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
    # groupby, not pivot_table(dropna=False), which would add every key combination
    wide = rows.groupby([*keys, "metric"], sort=False)["value"].mean().unstack("metric")
    nans = rows[rows["label"] != ""].assign(missing=lambda d: d["value"].isna())
    nans = nans.groupby([*keys, "metric"], sort=False)["missing"].sum().unstack("metric")
    wide = wide.join(nans.add_suffix("_nan")).reset_index()
    wide["seed"] = wide["seed"].replace(-1, pd.NA)
    appearance = {m: i for i, m in enumerate(dict.fromkeys(rows["method"]))}  # pivot sorted by name
    return wide.sort_values("method", key=lambda m: m.map(appearance), kind="stable", ignore_index=True)


def group_of(method: str, baseline: str = "cnn") -> str:
    """The table's row group of a method: a method of the registry, the baseline, a network by its
    backbone and designs, or else an external method (fields made elsewhere, by any name)."""
    if method in registry.methods():
        return "Reference"
    if method == baseline:
        return "Baseline"
    try:
        spec = parse(method)
    except ValueError:
        return "External methods"
    if spec.record.complete or (spec.backbone == registry.REFERENCE_BACKBONE and spec.designs):
        return "Registration-specific designs"
    return "Trend-driven backbones" if not spec.designs else "Backbones with designs"


def method_order(methods, baseline: str = "cnn") -> list[str]:
    """Methods by row group (the methods without training in the registry's order: identity,
    ants, ...), in the order given within a group."""
    methods = list(dict.fromkeys(methods))
    registered = list(registry.methods())
    rank = {m: registered.index(m) if m in registered else 0 for m in methods}
    return sorted(methods, key=lambda m: (GROUPS.index(group_of(m, baseline)), rank[m]))


def summary(pairs: pd.DataFrame, comparison: pd.DataFrame, baseline: str = "cnn") -> pd.DataFrame:
    """Per task and method: group, pair and seed counts, and per metric mean, std, NaN count,
    Holm-corrected p-value against the baseline and its significance (better / worse / '')."""
    records, paper_names = [], {name: alias for alias, name in aliases().items()}
    for (task, method), group in pairs.groupby(["task", "method"], sort=False):
        record = {
            "task": task,
            "group": group_of(method, baseline),
            "method": method,
            "paper_name": paper_names.get(method, ""),
            "seeds": group["seed"].nunique(),
            "pairs": group["pair_id"].nunique(),
        }
        seeds = group["seed"].astype("float").fillna(-1)
        for metric in METRICS:
            if metric in group:
                record[f"{metric}_mean"] = group[metric].mean()
                # over pairs (of the seed-averaged values), and between seeds (of their means)
                record[f"{metric}_std"] = group.groupby("pair_id")[metric].mean().std(ddof=1)
                record[f"{metric}_seed_std"] = group[metric].groupby(seeds).mean().std(ddof=1)
                if f"{metric}_nan" in group:
                    record[f"{metric}_nan"] = int(group[f"{metric}_nan"].sum())
        if "lost_labels" in group:
            record["lost_labels_total"] = int(group["lost_labels"].sum())
        records.append(record)
    table = pd.DataFrame(records)
    if not comparison.empty:
        tests = comparison.pivot_table(
            index=["task", "method"], columns="metric", values="p_holm", aggfunc="first", dropna=False
        )
        signs = comparison.pivot_table(
            index=["task", "method"], columns="metric", values="significance", aggfunc="first"
        )
        table = table.join(tests.add_suffix("_p_holm"), on=["task", "method"])
        table = table.join(signs.add_suffix("_significance"), on=["task", "method"])
        significance = [c for c in table if c.endswith("_significance")]
        table[significance] = table[significance].fillna("")
    order = {m: i for i, m in enumerate(method_order(table["method"], baseline))}
    return table.sort_values(["task", "method"], key=lambda s: s.map(order) if s.name == "method" else s)


def _metrics_in(table: pd.DataFrame) -> list[str]:
    """The table columns: metrics of the table with values."""
    return [
        m
        for m in METRICS
        if METRICS[m].in_table and f"{m}_mean" in table and table[f"{m}_mean"].notna().any()
    ]


def _best(table: pd.DataFrame, metric: str) -> float:
    """The best mean of a column among the learned methods."""
    learned = table.loc[table["group"].isin(LEARNED), f"{metric}_mean"].dropna()
    if learned.empty:
        return np.nan
    return learned.max() if METRICS[metric].direction > 0 else learned.min()


def _cells(table: pd.DataFrame, bold, marker) -> list[tuple[str, str, list[str]]]:
    """``(group, method, cells)`` per row, formatting bold and significance with the callables."""
    metrics = _metrics_in(table)
    best = {metric: _best(table, metric) for metric in metrics}
    rows = []
    for _, row in table.iterrows():
        cells = [f"{row['pairs']} × {max(row['seeds'], 1)}"]
        for metric in metrics:
            digits = METRICS[metric].decimals
            mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
            if np.isnan(mean):
                cells.append("–")
                continue
            cell = f"{mean:.{digits}f} ± {0 if np.isnan(std) else std:.{digits}f}"
            if row["seeds"] > 1:  # the between-seed spread: training variance
                cell += f" [{row[f'{metric}_seed_std']:.{digits}f}]"
            if row["group"] in LEARNED and f"{mean:.{digits}f}" == f"{best[metric]:.{digits}f}":
                cell = bold(cell)
            cells.append(cell + marker(row.get(f"{metric}_significance", "")))
        name = row["method"] + (f" ({row['paper_name']})" if row["paper_name"] else "")
        rows.append((row["group"], name, cells))
    return rows


def _lambda_note(table: pd.DataFrame) -> str:
    if "lambda" not in table or table["lambda"].isna().all():
        return ""
    chosen = ", ".join(f"{r['method']} {r['lambda']:g}" for _, r in table.iterrows() if pd.notna(r["lambda"]))
    return f"Regularisation λ chosen per model on the validation pairs (training.lambda_grid): {chosen}."


def _nan_note(table: pd.DataFrame) -> str:
    notes = [
        f"{METRICS[m].title} {int(row[f'{m}_nan'])} ({row['method']})"
        for m in _metrics_in(table)
        for _, row in table.iterrows()
        if row.get(f"{m}_nan", 0) > 0
    ]
    return "Labels not scored (absent from the fixed or moving map): " + ", ".join(notes) if notes else ""


def _lost_note(table: pd.DataFrame) -> str:
    notes = [
        f"{row['method']} {int(row['lost_labels_total'])}"
        for _, row in table.iterrows()
        if row.get("lost_labels_total", 0) > 0
    ]
    if not notes:
        return ""
    return (
        "Structures lost by registration, scored as failures (Dice 0, NSD 0, HD95 and ASSD the grid "
        "diagonal): " + ", ".join(notes)
    )


def markdown(table: pd.DataFrame, baseline: str = "cnn") -> str:
    """The task tables in Markdown, one per task, with group rows, bold best, markers."""
    out = []
    for task, part in table.groupby("task", sort=False):
        header = ["Method", "Pairs × seeds"] + [METRICS[m].title for m in _metrics_in(part)]
        lines = [f"### {task}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        group = None
        rows = _cells(part, lambda c: f"**{c}**", lambda s: MARKERS[s] and f" {MARKERS[s]}")
        for row_group, name, cells in rows:
            if row_group != group:
                group = row_group
                lines.append(f"| *{group}* |" + " |" * (len(header) - 1))
            lines.append("| " + " | ".join([name, *cells]) + " |")
        several = (part["seeds"] > 1).any()
        notes = [
            f"Mean ± std over pairs (of the values averaged over seeds){SEED_NOTE if several else ''}."
            f" Bold: best learned method. ↑/↓: significantly better/worse than {baseline} (paired Wilcoxon "
            "signed-rank, Holm-corrected, per metric; with several seeds the two-level bootstrap interval "
            "of the difference must exclude 0 too).",
            "" if several else ONE_SEED_NOTE,
            _lambda_note(part),
            _nan_note(part),
            _lost_note(part),
        ]
        out += lines + [""] + [n for n in notes if n] + [""]
    return "\n".join(out)


def latex(table: pd.DataFrame, baseline: str = "cnn") -> str:
    """The task tables in LaTeX (booktabs), one ``table`` environment per task."""
    marks = {"better": r"$^{\uparrow}$", "worse": r"$^{\downarrow}$", "": ""}
    out = []
    for task, part in table.groupby("task", sort=False):
        metrics = _metrics_in(part)
        titles = [_tex(METRICS[m].title) for m in metrics]
        lines = [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{_tex(task)}: mean $\pm$ std over pairs [std between seeds' means, with "
            r"several seeds]. Bold: best learned method. "
            rf"$\uparrow$/$\downarrow$: significantly better/worse than {_tex(baseline)} "
            r"(paired Wilcoxon signed-rank, Holm-corrected).}",
            r"\begin{tabular}{l" + "c" * (len(metrics) + 1) + "}",
            r"\toprule",
            " & ".join(["Method", r"Pairs $\times$ seeds", *titles]) + r" \\",
        ]
        group = None
        for row_group, name, cells in _cells(part, lambda c: rf"\textbf{{{c}}}", lambda s: marks[s]):
            if row_group != group:
                group = row_group
                lines += [r"\midrule", rf"\multicolumn{{{len(metrics) + 2}}}{{l}}{{\emph{{{group}}}}} \\"]
            lines.append(" & ".join([_tex(name), *(_tex_cell(c) for c in cells)]) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
        out += lines
    return "\n".join(out)


def _tex(text: str) -> str:
    return (
        text.replace("\\", r"\textbackslash{}")
        .replace("_", r"\_")
        .replace("%", r"\%")
        .replace("&", r"\&")
        .replace("#", r"\#")
        .replace("≤", r"$\leq$")
        .replace("×", r"$\times$")
    )


def _tex_cell(cell: str) -> str:
    return cell.replace(" ± ", r" $\pm$ ").replace(" × ", r" $\times$ ").replace("–", "--")


def write_tables(
    pairs: pd.DataFrame, comparison: pd.DataFrame, folder: Path, baseline: str, columns: dict | None = None
) -> pd.DataFrame:
    """``per_pair.csv``, ``summary.csv``, ``summary.md`` and ``summary.tex`` in ``folder``;
    ``columns``: further per-method columns of the summary, by name (``lambda``: the λ chosen per
    model on the validation pairs; ``parameters``: trainable parameters), where known."""
    table = summary(pairs, comparison, baseline)
    for name, values in (columns or {}).items():
        if values:
            table[name] = table["method"].map(values)
    write_csv(folder / "per_pair.csv", pairs)
    write_csv(folder / "summary.csv", table)
    for name, text in (("summary.md", markdown(table, baseline)), ("summary.tex", latex(table, baseline))):
        with atomic_path(folder / name) as tmp:
            Path(tmp).write_text(text)
    return table
