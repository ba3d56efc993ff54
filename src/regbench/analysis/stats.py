"""Paired statistics against the baseline model, and the backbone-versus-design disentangling,
with training randomness in every interval where a study has several seeds.

Every method is scored on the same ID'd pairs, so comparisons are paired. Two sources of
randomness stand behind a number: which test pairs were drawn, and how a network's training went
(initialisation, batch order: its seed). One bootstrap serves every interval: a **two-level
(hierarchical) bootstrap** that, in each resample, draws the task's pairs with replacement (the same
draw for every method, which keeps the comparison paired) and, independently for each method,
its seeds with replacement. A method's value in a resample is the seed-weighted mean of its
per-seed means over the drawn pairs. With one seed the seed level draws nothing and the interval
is the pairs-only percentile bootstrap; with identical seeds it is that again. Each draw's
generator is keyed by the names it is for (task, metric, method), so a table's intervals do not
depend on the order of its rows (a merged study gives those of one run). Each contrast also
says in how many seeds its sign agrees: seed k of a model against seed k of its reference (the
same initialisation seed and batch order).

- :func:`compare`: per task, metric and method, mean ± std over pairs, the between-seed std (std of
  the per-seed means), median, the relative improvement over the baseline with its bootstrap
  interval and seed agreement, and the two-sided Wilcoxon signed-rank test on the pair values
  (averaged over seeds), Holm-corrected across the methods of a task and metric. A difference is
  marked significant where the corrected p-value is below α and, with several seeds, the
  bootstrap interval excludes 0 too (the Wilcoxon test sees the pairs only).
- :func:`disentangle`: the relative improvement attributable to changing the backbone with the
  designs held fixed (``swin-DWP`` against ``cnn-DWP``, ``lk`` against ``cnn``, ...) versus adding
  registration-specific designs with the backbone held fixed (``cnn-DWP`` against ``cnn``, ...),
  averaged over those contrasts, per task and across tasks (each task weighs the same).

Relative improvement is ``±(method − baseline) / |baseline| × 100`` with the sign chosen so that
better is positive for every metric (higher Dice, lower HD95, ...); NaN where the baseline mean is 0.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

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


def seed_values(pairs: pd.DataFrame, metric: str) -> dict[str, pd.DataFrame]:
    """Per method, ``[seed × pair_id]`` of one task's metric (methods without seeds: one row, -1);
    every frame has the task's pairs as columns, in one order."""
    pairs = pairs.assign(seed=pairs["seed"].astype("float").fillna(-1))
    order = sorted(set(pairs["pair_id"]))  # one order of the pairs, whatever the rows
    return {
        method: group.pivot_table(index="seed", columns="pair_id", values=metric, dropna=False).reindex(
            columns=order
        )
        for method, group in pairs.groupby("method", sort=False)
    }


def relative_improvement(value, reference, metric: str):
    """Element-wise relative improvement (%) of ``value`` over ``reference``, better positive."""
    value, reference = np.asarray(value, float), np.asarray(reference, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = METRICS[metric].direction * (value - reference) / np.abs(reference) * 100.0
    return np.where(reference == 0, np.nan, effect)


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


@dataclass
class Bootstrap:
    """One task's metric under the two-level bootstrap: per method, its mean in every resample
    (``means[0]``: the original sample) and its per-seed means (by seed, on the original pairs)."""

    means: dict[str, np.ndarray]
    seed_means: dict[str, pd.Series]

    def effect(self, method: str, reference: str, metric: str) -> np.ndarray:
        """The relative improvement of ``method`` over ``reference`` in every resample."""
        return relative_improvement(self.means[method], self.means[reference], metric)

    def seed_effects(self, method: str, reference: str, metric: str) -> pd.Series:
        """Per seed that both have, the relative improvement of that seed over that seed."""
        mine, theirs = self.seed_means[method], self.seed_means[reference]
        if len(theirs) == 1 and len(mine) > 1:  # a reference without seeds (the identity)
            theirs = pd.Series(theirs.iloc[0], index=mine.index)
        common = mine.index.intersection(theirs.index)
        return pd.Series(relative_improvement(mine[common], theirs[common], metric), index=common)


def bootstrap(pairs: pd.DataFrame, metric: str, n_boot: int, seed: int) -> Bootstrap:
    """The two-level bootstrap of one task's metric. Each draw has its own generator, keyed by the
    bootstrap ``seed`` and the names of the task, the metric (and the method, for its seeds), so
    the intervals do not depend on the order of the tasks or methods in a table."""
    tables = seed_values(pairs, metric)
    task = str(pairs["task"].iloc[0])
    n = len(next(iter(tables.values())).columns)
    counts = _generator(seed, task, metric).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    counts = np.vstack([np.ones(n), counts])
    means, seed_means = {}, {}
    for method, table in tables.items():
        per_seed = np.full((n_boot + 1, len(table)), np.nan)
        for k, values in enumerate(table.to_numpy()):
            valid = ~np.isnan(values)
            with np.errstate(invalid="ignore", divide="ignore"):
                per_seed[:, k] = counts[:, valid] @ values[valid] / counts[:, valid].sum(axis=1)
        seed_means[method] = pd.Series(per_seed[0], index=table.index.astype(int))
        if len(table) == 1:
            means[method] = per_seed[:, 0]
            continue
        draw = _generator(seed, task, metric, method)
        weights = draw.multinomial(len(table), np.full(len(table), 1.0 / len(table)), size=n_boot)
        weights = np.vstack([np.ones(len(table)), weights]).astype(float)
        weights[np.isnan(per_seed)] = 0  # a seed without values on the drawn pairs
        with np.errstate(invalid="ignore", divide="ignore"):
            means[method] = np.nansum(weights * per_seed, axis=1) / weights.sum(axis=1)
    return Bootstrap(means, seed_means)


def _generator(seed: int, *names: str) -> np.random.Generator:
    """A generator for one draw, from the bootstrap seed and the names it is for."""
    return np.random.default_rng([seed, *(zlib.crc32(name.encode()) for name in names)])


def agreement(seed_effects: pd.Series, estimate: float) -> tuple[int, int]:
    """``(k, n)``: k of the n seeds whose effect has the estimate's sign (0 agrees with nothing)."""
    finite = seed_effects[np.isfinite(seed_effects)]
    if not np.isfinite(estimate) or estimate == 0:
        return 0, len(finite)
    return int((np.sign(finite) == np.sign(estimate)).sum()), len(finite)


def _interval(replicates: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Percentile interval of the finite bootstrap replicates (NaN when there are none, e.g. a
    baseline mean of 0)."""
    finite = replicates[np.isfinite(replicates)]
    return tuple(np.percentile(finite, [lo, hi])) if finite.size else (np.nan, np.nan)


def _percentiles(confidence: float) -> tuple[float, float]:
    return 50 * (1 - confidence), 50 * (1 + confidence)


def compare(
    pairs: pd.DataFrame,
    baseline: str = "cnn",
    alpha: float = 0.05,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per task, metric and method: statistics and the test against ``baseline``.

    Empty when the baseline is not among the methods.
    """
    lo, hi = _percentiles(confidence)
    records = []
    for task, group in pairs.groupby("task", sort=False):
        if baseline not in set(group["method"]):
            continue
        for metric in METRICS:
            if metric not in group or group[metric].isna().all():
                continue
            table = pair_values(group, metric)
            reference = table[baseline].to_numpy()
            sampled = bootstrap(group, metric, n_boot, seed)
            rows = []
            for method in table.columns:
                values = table[method].to_numpy()
                present = values[~np.isnan(values)]
                effect = sampled.effect(method, baseline, metric)
                low, high = _interval(effect[1:], lo, hi)
                agree, seeds = agreement(sampled.seed_effects(method, baseline, metric), effect[0])
                per_seed = sampled.seed_means[method]
                rows.append(
                    {
                        "task": task,
                        "metric": metric,
                        "method": method,
                        "pairs": len(present),
                        "seeds": len(per_seed),
                        "mean": sampled.means[method][0],
                        "std": present.std(ddof=1) if len(present) > 1 else np.nan,
                        "seed_std": per_seed.std(ddof=1) if len(per_seed) > 1 else np.nan,
                        "median": np.median(present) if len(present) else np.nan,
                        "improvement_pct": effect[0],
                        "ci_low": low,
                        "ci_high": high,
                        "sign_agreement": agree,
                        "seeds_compared": seeds,
                        "p_value": np.nan if method == baseline else paired_test(values, reference),
                    }
                )
            adjusted = holm([row["p_value"] for row in rows])
            for row, p in zip(rows, adjusted):
                row["p_holm"] = p
                row["significance"] = _significance(row, p, alpha)
            records += rows
    return pd.DataFrame(records)


def _significance(row: dict, p_holm: float, alpha: float) -> str:
    """'better' / 'worse' where the paired test rejects and, with several seeds, the bootstrap
    interval (which carries training variance) excludes 0; else ''."""
    if not p_holm < alpha or not np.isfinite(row["improvement_pct"]):
        return ""
    if row["seeds"] > 1 and not (row["ci_low"] > 0 or row["ci_high"] < 0):
        return ""
    return "better" if row["improvement_pct"] > 0 else "worse"


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
            continue  # identity, ants, external methods, ...
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


def disentangle(
    pairs: pd.DataFrame, metrics=None, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-factor summary (per task and across tasks) and the per-contrast rows."""
    metrics = [m for m in (metrics or METRICS) if m in pairs and m not in COSTS]
    lo, hi = _percentiles(confidence)
    summary, detail = [], []
    for metric in metrics:
        per_task = {factor: [] for factor in FACTORS}  # (contrasts, replicates, per-seed effects)
        for task, group in pairs.groupby("task", sort=False):
            found = contrasts(group["method"].unique())
            if not found or group[metric].isna().all():
                continue
            # pairs where a contrast lacks a value are dropped from that contrast only
            sampled = bootstrap(group, metric, n_boot, seed)
            for factor in FACTORS:
                effects, by_seed = [], []
                for name, method, reference in (c for c in found if c[0] == factor):
                    effects.append(sampled.effect(method, reference, metric))
                    by_seed.append(sampled.seed_effects(method, reference, metric))
                    row = _effect_row(task, metric, name, 1, 1, effects[-1], by_seed[-1], lo, hi)
                    detail.append(dict(row, method=method, reference=reference))
                if effects:
                    effect, seeds = np.mean(effects, axis=0), pd.concat(by_seed, axis=1).mean(axis=1)
                    per_task[factor].append((len(effects), effect, seeds))
                    summary.append(_effect_row(task, metric, factor, 1, len(effects), effect, seeds, lo, hi))
        for factor, found in per_task.items():
            if len(found) > 1:  # each task weighs the same
                effect = np.mean([e for _, e, _ in found], axis=0)
                seeds = pd.concat([s for _, _, s in found], axis=1).mean(axis=1)
                count = sum(n for n, _, _ in found)
                summary.append(
                    _effect_row("all tasks", metric, factor, len(found), count, effect, seeds, lo, hi)
                )
    return pd.DataFrame(summary), pd.DataFrame(detail)


def _effect_row(task, metric, factor, tasks, contrasts, effect, seed_effects, lo, hi) -> dict:
    """``effect``: the estimate, then its bootstrap replicates; ``seed_effects``: per seed."""
    low, high = _interval(effect[1:], lo, hi)
    agree, seeds = agreement(seed_effects, effect[0])
    return dict(
        task=task,
        metric=metric,
        factor=factor,
        tasks=tasks,
        contrasts=contrasts,
        improvement_pct=effect[0],
        ci_low=low,
        ci_high=high,
        seeds=seeds,
        sign_agreement=agree,
    )
