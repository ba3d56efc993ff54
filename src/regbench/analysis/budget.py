"""Accuracy against training length, from the snapshots of the same training runs.

Each network's snapshots (``training.snapshots``: ``cnn@100`` is ``cnn`` after 100 iterations,
:mod:`regbench.snapshots`) are scored on the task's test pairs like a model; with the final models
(at ``training.iterations``) they give, per task:

- ``curves.csv``: per model and budget, the primary metric's mean, its std over pairs and between
  the seeds' means (training variance), and the number of seeds;
- ``effects.csv``: the backbone and design effects at each budget, with their (seed-aware)
  intervals and seed agreement (:func:`regbench.analysis.stats.disentangle`), so that a gap can
  be told from a convergence gap;
- ``summary.md`` and ``curves.{png,pdf}``: the same as tables and a two-panel figure.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from regbench.analysis import METRICS, stats, tables
from regbench.analysis.figures import save
from regbench.io import atomic_path, write_csv

SEPARATOR = "@"  # the snapshot's method name: <model>@<iteration>


def by_budget(final: pd.DataFrame, snapshots: pd.DataFrame, iterations: int) -> pd.DataFrame:
    """Per-pair rows of the networks with an ``iteration`` column: the snapshots' (their model's
    name) and the final models' (at ``iterations``); methods without training are left out."""
    split = snapshots["method"].str.rsplit(SEPARATOR, n=1, expand=True)
    snapshots = snapshots.assign(method=split[0], iteration=split[1].astype(int))
    models = set(snapshots["method"])
    final = final[final["method"].isin(models)].assign(iteration=iterations)
    return pd.concat([snapshots, final], ignore_index=True)


def curves(pairs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per model and iteration: mean, std over pairs, std between seeds' means, seeds."""
    rows = []
    for (task, method, iteration), group in pairs.groupby(["task", "method", "iteration"], sort=False):
        seeds = group["seed"].astype("float").fillna(-1)
        per_seed = group[metric].groupby(seeds).mean()
        rows.append(
            dict(
                task=task,
                method=method,
                iteration=iteration,
                metric=metric,
                mean=group[metric].mean(),
                std=group.groupby("pair_id")[metric].mean().std(ddof=1),
                seed_std=per_seed.std(ddof=1),
                seeds=len(per_seed),
            )
        )
    return pd.DataFrame(rows).sort_values(["task", "method", "iteration"], ignore_index=True)


def effects(pairs: pd.DataFrame, metric: str, settings: dict) -> pd.DataFrame:
    """The disentangling summary of ``metric`` at every budget (an ``iteration`` column added)."""
    frames = []
    for iteration, group in pairs.groupby("iteration"):
        summary, _ = stats.disentangle(
            group, [metric], settings["bootstrap"], settings["confidence"], settings["seed"]
        )
        frames.append(summary.assign(iteration=iteration))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def markdown(curve: pd.DataFrame, effect: pd.DataFrame, confidence: float) -> str:
    metric = curve["metric"].iloc[0]
    title, digits = METRICS[metric].title, METRICS[metric].decimals
    iterations = sorted(curve["iteration"].unique())
    lines = [
        f"### {title} against training iterations",
        "",
        "| Model | " + " | ".join(map(str, iterations)) + " |",
        "|---|" + "---|" * len(iterations),
    ]
    order = tables.method_order(curve["method"])
    for method in order:
        part = curve[curve["method"] == method].set_index("iteration")
        cells = []
        for n in iterations:
            if n not in part.index:
                cells.append("–")
                continue
            row = part.loc[n]
            spread = f" [{row['seed_std']:.{digits}f}]" if row["seeds"] > 1 else ""
            cells.append(f"{row['mean']:.{digits}f}{spread}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    seeds = int(curve["seeds"].max())
    lines += [
        "",
        f"Mean over {'seeds and ' if seeds > 1 else ''}pairs"
        + (" [std between the seeds' means]" if seeds > 1 else "; one seed: training variance not included")
        + ". Each column is the same training runs, kept at that iteration.",
        "",
    ]
    if not effect.empty:
        level = f"{100 * confidence:g}%"
        lines += [
            f"### Backbone and design effects on {title} ({level} CI, seeds agreeing)",
            "",
            "| Iteration | Task | Backbone | Design |",
            "|---|---|---|---|",
        ]
        for (iteration, task), part in effect.groupby(["iteration", "task"], sort=True):
            cells = []
            for factor in stats.FACTORS:
                row = part[part["factor"] == factor]
                if row.empty:
                    cells.append("–")
                    continue
                r = row.iloc[0]
                cells.append(
                    f"{r['improvement_pct']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}] "
                    f"{r['sign_agreement']}/{r['seeds']}"
                )
            lines.append(f"| {iteration} | {task} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def figure(curve: pd.DataFrame, effect: pd.DataFrame, path, confidence: float) -> None:
    import matplotlib.pyplot as plt

    metric = curve["metric"].iloc[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for method in tables.method_order(curve["method"]):
        part = curve[curve["method"] == method]
        left.errorbar(
            part["iteration"],
            part["mean"],
            yerr=part["seed_std"].fillna(0),
            marker="o",
            capsize=3,
            label=method,
        )
    left.set(
        xlabel="training iteration", ylabel=METRICS[metric].title, title="Models (bars: std between seeds)"
    )
    left.legend(fontsize=7)
    if not effect.empty:
        for factor, color in (("backbone", "tab:blue"), ("design", "tab:orange")):
            part = effect[(effect["factor"] == factor) & (effect["task"] != "all tasks")]
            for task, rows in part.groupby("task", sort=False):
                rows = rows.sort_values("iteration")
                right.plot(
                    rows["iteration"],
                    rows["improvement_pct"],
                    marker="o",
                    color=color,
                    label=f"{task}: {factor}",
                )
                right.fill_between(rows["iteration"], rows["ci_low"], rows["ci_high"], color=color, alpha=0.2)
        right.axhline(0, color="0.5", lw=0.8)
        right.legend(fontsize=7)
    right.set(
        xlabel="training iteration",
        ylabel="relative improvement (%)",
        title=f"Effects ({100 * confidence:g}% CI)",
    )
    fig.tight_layout()
    save(fig, path)


def aggregate_budget(per_pair_path, metric_paths, settings: dict, folder) -> str:
    """Write ``curves.csv``, ``effects.csv``, ``summary.md`` and ``curves.png`` under ``folder``;
    return the Markdown."""
    folder, metric = Path(folder), settings["primary_metric"]
    snapshots = tables.per_pair(tables.read_rows(metric_paths))
    pairs = by_budget(pd.read_csv(per_pair_path), snapshots, settings["iterations"])
    curve, effect = curves(pairs, metric), effects(pairs, metric, settings)
    write_csv(folder / "curves.csv", curve)
    write_csv(folder / "effects.csv", effect)
    text = markdown(curve, effect, settings["confidence"])
    with atomic_path(folder / "summary.md") as tmp:
        Path(tmp).write_text(text)
    figure(curve, effect, folder / "curves.png", settings["confidence"])
    return text
