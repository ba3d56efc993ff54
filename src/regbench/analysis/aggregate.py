"""The aggregate stages: a task's tables and figures, and the study's disentangling analysis.

Both read only files under ``results/`` (metric, timing and preview files, the data manifest),
so they rebuild from cached results without checkpoints or displacement fields.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from regbench.analysis import METRICS, figures, stats, tables
from regbench.data.manifest import Manifest
from regbench.io import atomic_path, write_csv
from regbench.names import parse


def parameter_counts(methods, ndim: int, window=None) -> dict[str, int]:
    """Trainable parameters of every model among ``methods`` (baselines have none)."""
    from regbench.models.zoo import build, parameter_count

    counts = {}
    for method in methods:
        try:
            parse(method)
        except ValueError:
            continue
        counts[method] = parameter_count(build(method, ndim, window))
    return counts


def chosen_lambdas(paths) -> dict[str, float]:
    """Model -> the λ chosen for it, from ``train/<model>/lambda.json`` files."""
    from regbench.io import read_json

    return {Path(path).parent.name: read_json(path)["selected"] for path in paths}


def aggregate_task(
    manifest_path, metric_paths, timing_paths, preview_paths, folder, settings: dict, lambda_paths=()
) -> str:
    """Write a task's tables and figures under ``folder`` (``tables/``, ``figures/``); return the
    Markdown table."""
    folder = Path(folder)
    baseline, metric = settings["baseline"], settings["primary_metric"]
    pairs = tables.per_pair(tables.read_rows([*metric_paths, *timing_paths]))
    if metric not in pairs or pairs[metric].isna().all():
        raise ValueError(f"primary metric {metric!r}: no values in {metric_paths[0]} and the others")
    comparison = stats.compare(
        pairs, baseline, settings["alpha"], settings["bootstrap"], settings["confidence"], settings["seed"]
    )
    if comparison.empty:
        print(f"note: baseline {baseline!r} is not among the methods; no paired tests or markers")
    write_csv(folder / "tables" / "comparison.csv", comparison)
    manifest = Manifest.load(manifest_path)
    counts = parameter_counts(pairs["method"].unique(), manifest.ndim, settings.get("swin_window"))
    columns = {"lambda": chosen_lambdas(lambda_paths), "parameters": counts}
    table = tables.write_tables(pairs, comparison, folder / "tables", baseline, columns)
    figures.metrics_figure(pairs, folder / "figures" / "metrics.png", baseline)
    figures.heatmap_figure(comparison, metric, folder / "figures" / "heatmap.png", baseline)
    figures.cost_figure(table, counts, metric, folder / "figures" / "cost.png")
    figures.qualitative_figure(manifest_path, preview_paths, folder / "figures" / "qualitative.png", baseline)
    return tables.markdown(table, baseline)


def aggregate_study(per_pair_paths, folder, settings: dict) -> str:
    """Write the disentangling analysis over every task's per-pair table; return it as Markdown."""
    folder = Path(folder)
    pairs = pd.concat([pd.read_csv(path) for path in per_pair_paths], ignore_index=True)
    summary, detail = stats.disentangle(
        pairs, n_boot=settings["bootstrap"], confidence=settings["confidence"], seed=settings["seed"]
    )
    write_csv(folder / "disentangling.csv", summary)
    write_csv(folder / "contrasts.csv", detail)
    text = disentangling_markdown(summary, settings["confidence"])
    with atomic_path(folder / "disentangling.md") as tmp:
        Path(tmp).write_text(text)
    disentangling_figure(summary, folder / "disentangling.png", settings["confidence"])
    return text


def _shown(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of the Markdown table and the figure: table metrics with a defined effect."""
    if summary.empty:
        return summary
    return summary[summary["metric"].map(lambda m: METRICS[m].in_table) & summary["improvement_pct"].notna()]


def disentangling_markdown(summary: pd.DataFrame, confidence: float) -> str:
    level = f"{100 * confidence:g}%"
    lines = [
        f"| Task | Metric | Factor | Contrasts | Relative improvement (%) [{level} CI] | Seeds agreeing |",
        "|---|---|---|---|---|---|",
    ]
    shown = _shown(summary)
    for _, row in shown.iterrows():
        cell = f"{row['improvement_pct']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
        title = METRICS[row["metric"]].title
        agree = f"{row['sign_agreement']}/{row['seeds']}"
        lines.append(f"| {row['task']} | {title} | {row['factor']} | {row['contrasts']} | {cell} | {agree} |")
    if summary.empty:
        lines.append("| – | – | – | 0 | no pair of models differs in one factor only | – |")
    one_seed = shown.empty or shown["seeds"].max() <= 1
    randomness = (
        "pairs only: **one training seed per network, so training variance is not included**; a rerun "
        "with other seeds can fall outside them (set `seeds` to several to include it)"
        if one_seed
        else "two-level bootstrap over the test pairs and each network's seeds, so they include "
        "training variance"
    )
    note = (
        "\nBackbone: a backbone in place of cnn with the same designs. Design: designs added to the same "
        f"backbone. Better is positive for every metric; intervals are percentile bootstrap, {randomness}. "
        "Seeds agreeing: in how many seeds (seed k of a model against seed k of its reference) the effect "
        "has the estimate's sign. Not shown: metrics whose reference mean is 0 (relative change undefined) "
        "and the further endpoint-error statistics; disentangling.csv has every row."
    )
    return "\n".join(lines) + "\n" + note + "\n"


def disentangling_figure(summary: pd.DataFrame, path, confidence: float) -> None:
    """Forest plot: the backbone and design effects with their intervals, per task and metric."""
    summary = _shown(summary)
    metrics = list(dict.fromkeys(summary["metric"])) if not summary.empty else []
    columns = min(4, max(1, len(metrics)))
    rows = max(1, -(-len(metrics) // columns))
    height = 0.35 * summary.groupby("metric").size().max() + 1.2 if metrics else 2
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, height * rows), squeeze=False)
    for ax, metric in zip(axes.ravel(), metrics):
        part = summary[summary["metric"] == metric].reset_index(drop=True)
        labels = [f"{t}: {f}" for t, f in zip(part["task"], part["factor"])]
        y = np.arange(len(part))
        errors = [part["improvement_pct"] - part["ci_low"], part["ci_high"] - part["improvement_pct"]]
        for factor, color in (("backbone", "tab:blue"), ("design", "tab:orange")):
            at = (part["factor"] == factor).to_numpy()
            ax.errorbar(
                part["improvement_pct"][at],
                y[at],
                xerr=[e[at] for e in errors],
                fmt="o",
                color=color,
                capsize=3,
                label=factor,
            )
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set_yticks(y, labels, fontsize=7)
        ax.set(title=METRICS[metric].title, xlabel="relative improvement (%)")
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_axis_off()
    if metrics:
        axes[0, 0].legend(fontsize=7)
    else:
        axes[0, 0].text(0.5, 0.5, "no contrasts", ha="center", va="center")
    fig.suptitle(f"Backbone vs design effects ({100 * confidence:g}% bootstrap CI)")
    fig.tight_layout()
    figures.save(fig, path)


def leaderboard_markdown(board: pd.DataFrame, per_task: pd.DataFrame) -> str:
    """The overall leaderboard and each task's, in Markdown."""
    from regbench.analysis.ranking import RANKED, title

    tasks = [c.removesuffix("_rank") for c in board if c.endswith("_rank")]
    seeds = "place_best_seed" in board
    header = ["Place", "Method", "Rank score", *tasks] + (["Places over seeds"] if seeds else [])
    lines = ["## Overall", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in board.iterrows():
        cells = [str(row["place"]), row["method"], f"{row['rank_score']:.3f}"]
        cells += [f"{row[f'{t}_rank']:.3f}" for t in tasks]
        if seeds:
            cells.append(
                f"{row['place_best_seed']}–{row['place_worst_seed']} (first in {row['first_in_seeds']})"
            )
        lines.append("| " + " | ".join(cells) + " |")
    for task, part in per_task.groupby("task", sort=False):
        metrics = [m for m in RANKED if f"{m}_mean" in part]
        header = ["Place", "Method", "Task rank", *(title(m) for m in metrics)]
        lines += ["", f"## {task}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for _, row in part.iterrows():
            cells = [str(row["place"]), row["method"], f"{row['task_rank']:.3f}"]
            cells += [f"{row[f'{m}_mean']:.3f} ({row[f'{m}_rank']:.2f})" for m in metrics]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Learn2Reg ranking (regbench.analysis.ranking): per task and metric, methods tested pairwise (paired "
        "Wilcoxon signed-rank, alpha as configured) and scored 0.1-1 by how many beat them; task rank = "
        "geometric mean over the metrics, overall = geometric mean over tasks (0.1 where a method did not "
        "run). Cells: mean (metric rank). DSC30: mean Dice over the 30 % of pairs hardest for the identity."
        + (" Places over seeds: the overall place ranked with each seed alone." if seeds else ""),
    ]
    return "\n".join(lines) + "\n"


def aggregate_leaderboard(
    per_pair_paths, summary_paths, figure_paths, folder, page_path, settings: dict
) -> str:
    """Write ``leaderboard.{md,csv}`` and ``leaderboard_tasks.csv`` under ``folder`` and the results
    page at ``page_path``; return the Markdown."""
    from regbench.analysis import page, ranking

    folder = Path(folder)
    pairs = pd.concat([pd.read_csv(path) for path in per_pair_paths], ignore_index=True)
    board, per_task = ranking.leaderboard(pairs, settings["alpha"])
    write_csv(folder / "leaderboard.csv", board)
    write_csv(folder / "leaderboard_tasks.csv", per_task)
    text = leaderboard_markdown(board, per_task)
    with atomic_path(folder / "leaderboard.md") as tmp:
        Path(tmp).write_text(text)
    summaries = {}
    for path in summary_paths:
        summary = pd.read_csv(path)
        summaries[summary["task"].iloc[0]] = summary
    sections = {"Backbone vs design effects": [], "Stress tests": [], "Training budget": []}
    for path in map(Path, figure_paths):
        key = (
            "Stress tests"
            if "stress" in path.parts
            else "Training budget"
            if "budget" in path.parts
            else None
        )
        sections[key or "Backbone vs design effects"].append(path)
    page.write_page(
        board, per_task, summaries, page_path, sections, settings.get("study", "regbench leaderboard")
    )
    return text
