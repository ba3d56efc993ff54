"""Paired statistics against the baseline model, and the backbone-versus-design disentangling.

Every method is scored on the same ID'd pairs, so comparisons are paired: a method's value on a
pair is first averaged over its seeds, then compared pair by pair with the baseline's.

- :func:`compare`: per task, metric and method, mean ± std and median over pairs, the relative
  improvement over the baseline, and the two-sided Wilcoxon signed-rank test on the paired
  values, Holm-corrected across the methods of a task and metric.
- :func:`disentangle`: the relative improvement attributable to changing the backbone with the
  designs held fixed (``swin-DWP`` against ``cnn-DWP``, ``lk`` against ``cnn``, ...) versus adding
  registration-specific designs with the backbone held fixed (``cnn-DWP`` against ``cnn``,
  ``swin-DWCP`` against ``swin``, ...), averaged over those contrasts, per task and across tasks,
  with percentile bootstrap confidence intervals over pairs (resampled within each task).

Relative improvement is ``±(method − baseline) / |baseline| × 100`` with the sign chosen so that
better is positive for every metric (higher Dice, lower HD95, ...), from the means over the
pairs both methods have a value on; NaN where the baseline mean is 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from regbench import registry
from regbench.analysis import COSTS, METRICS
from regbench.names import parse

FACTORS = ("backbone", "design")


def pair_values(pairs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``[pair_id × method]`` of one task's metric, averaged over seeds."""
    return pairs.groupby(["pair_id", "method"], sort=False)[metric].mean().unstack("method")


def relative_improvement(value: float, reference: float, metric: str) -> float:
    if reference == 0 or np.isnan(reference):
        return float("nan")
    return float(METRICS[metric].direction * (value - reference) / abs(reference) * 100.0)


def holm(p_values) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaNs stay NaN and do not count as tests)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def paired_test(values: np.ndarray, reference: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value on the pairs where both have a value (1 when no
    pair differs, NaN with fewer than two pairs)."""
    keep = ~(np.isnan(values) | np.isnan(reference))
    if keep.sum() < 2:
        return float("nan")
    if np.all(values[keep] == reference[keep]):
        return 1.0
    return float(wilcoxon(values[keep], reference[keep]).pvalue)


def compare(pairs: pd.DataFrame, baseline: str = "cnn", alpha: float = 0.05) -> pd.DataFrame:
    """One row per task, metric and method: statistics and the test against ``baseline``.

    Empty when the baseline is not among the methods.
    """
    records = []
    for task, group in pairs.groupby("task", sort=False):
        if baseline not in set(group["method"]):
            continue
        for metric in METRICS:
            if metric not in group or group[metric].isna().all():
                continue
            table = pair_values(group, metric)
            reference = table[baseline].to_numpy()
            rows = []
            for method in table.columns:
                values = table[method].to_numpy()
                present = values[~np.isnan(values)]
                both = ~(np.isnan(values) | np.isnan(reference))
                improvement = (
                    relative_improvement(values[both].mean(), reference[both].mean(), metric)
                    if both.any()
                    else np.nan
                )
                rows.append(
                    {
                        "task": task,
                        "metric": metric,
                        "method": method,
                        "pairs": len(present),
                        "mean": present.mean() if len(present) else np.nan,
                        "std": present.std(ddof=1) if len(present) > 1 else np.nan,
                        "median": np.median(present) if len(present) else np.nan,
                        "improvement_pct": improvement,
                        "p_value": np.nan if method == baseline else paired_test(values, reference),
                    }
                )
            adjusted = holm([row["p_value"] for row in rows])
            for row, p in zip(rows, adjusted):
                row["p_holm"] = p
                better = np.sign(row["improvement_pct"]) if not np.isnan(row["improvement_pct"]) else 0
                row["significance"] = ("better" if better > 0 else "worse") if p < alpha else ""
            records += rows
    return pd.DataFrame(records)


def contrasts(methods) -> list[tuple[str, str, str]]:
    """``(factor, method, reference)`` for every pair of models that differ in one factor only.

    Backbone contrasts set each backbone against the reference backbone (``cnn``) with the same
    designs; design contrasts set each design set against the same backbone without designs.
    Complete models (``vfa``: a matcher, neither a backbone swap nor a design added to one) and
    the methods that are not networks take no part.
    """
    specs = {}
    for method in methods:
        try:
            spec = parse(method)
        except ValueError:
            continue  # identity, ants, ...
        if not spec.record.complete:
            specs[(spec.backbone, spec.designs)] = method
    found = []
    reference = registry.REFERENCE_BACKBONE
    for (backbone, designs), method in specs.items():
        if backbone != reference and (reference, designs) in specs:
            found.append(("backbone", method, specs[(reference, designs)]))
        if designs and (backbone, "") in specs:
            found.append(("design", method, specs[(backbone, "")]))
    return found


def _bootstrap_means(table: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per method, its mean over each bootstrap resample of the pairs (rows), NaNs skipped;
    resample 0 is the original sample."""
    n = len(table)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    counts = np.vstack([np.ones(n), counts])
    means = {}
    for method in table.columns:
        values = table[method].to_numpy()
        valid = ~np.isnan(values)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[method] = counts[:, valid] @ values[valid] / counts[:, valid].sum(axis=1)
    return means


def disentangle(
    pairs: pd.DataFrame, metrics=None, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-factor summary (per task and across tasks) and the per-contrast rows."""
    metrics = [m for m in (metrics or METRICS) if m in pairs and m not in COSTS]
    rng = np.random.default_rng(seed)
    lo, hi = 50 * (1 - confidence), 50 * (1 + confidence)
    summary, detail = [], []
    for metric in metrics:
        replicates = {factor: [] for factor in FACTORS}  # per task: bootstrap effect replicates
        for task, group in pairs.groupby("task", sort=False):
            found = contrasts(group["method"].unique())
            if not found:
                continue
            table = pair_values(group, metric)
            # pairs where a contrast lacks a value are dropped from that contrast only
            means = _bootstrap_means(table, n_boot, rng)
            for factor in FACTORS:
                effects = []
                for name, method, reference in (c for c in found if c[0] == factor):
                    sign = METRICS[metric].direction
                    with np.errstate(invalid="ignore", divide="ignore"):
                        effect = sign * (means[method] - means[reference]) / np.abs(means[reference]) * 100
                    effects.append(effect)
                    row = _effect_row(task, metric, name, 1, 1, effect, lo, hi)
                    detail.append(dict(row, method=method, reference=reference))
                if effects:
                    effect = np.mean(effects, axis=0)
                    replicates[factor].append((len(effects), effect))
                    summary.append(_effect_row(task, metric, factor, 1, len(effects), effect, lo, hi))
        for factor, per_task in replicates.items():
            if len(per_task) > 1:  # each task weighs the same
                effect = np.mean([effect for _, effect in per_task], axis=0)
                count = sum(n for n, _ in per_task)
                summary.append(_effect_row("all tasks", metric, factor, len(per_task), count, effect, lo, hi))
    return pd.DataFrame(summary), pd.DataFrame(detail)


def _interval(replicates: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Percentile interval of the finite bootstrap replicates (NaN when there are none, e.g. a
    baseline mean of 0)."""
    finite = replicates[np.isfinite(replicates)]
    return tuple(np.percentile(finite, [lo, hi])) if finite.size else (np.nan, np.nan)


def _effect_row(task, metric, factor, tasks, contrasts, effect, lo, hi) -> dict:
    """``effect``: the estimate, then its bootstrap replicates."""
    low, high = _interval(effect[1:], lo, hi)
    return dict(
        task=task,
        metric=metric,
        factor=factor,
        tasks=tasks,
        contrasts=contrasts,
        improvement_pct=effect[0],
        ci_low=low,
        ci_high=high,
    )
