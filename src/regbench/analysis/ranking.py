"""Who is best, all things considered: the Learn2Reg ranking of every method of a study.

The rules, as the Learn2Reg organisers' ranking code applies them (MDL-UzL/L2R,
``ranking/ranking_utils.py`` and the task notebooks; the "significance ranking" of the Medical
Segmentation Decathlon), with regbench's deviations marked:

1. **Metric rank.** Per task and metric, every method is tested against every other; a method *beats*
   another where the two-sided test rejects at ``analysis.alpha`` and it is the better one. The
   test is the Wilcoxon **signed-rank** test on the pairs both methods have a value on (regbench
   scores every method on the same ID'd pairs; *deviation*: the Learn2Reg code calls the unpaired
   rank-sum test, ``scipy.stats.ranksums``, though its readme says signed-rank). A method's score
   is the number of methods that beat it; methods ordered from most beaten to least take the
   places of ``linspace(0.1, 1, N)``, and methods with equal scores share the mean of their places
   (1 = nobody beats it). A method without a value on a metric takes 0.1, as Learn2Reg gives a
   missing submission.
2. **Task rank** = the geometric mean of the method's metric ranks on the task.
3. **Overall rank** = the geometric mean of its task ranks, a task it was not run on counting 0.1
   (*regbench's rule*: the challenge ranks per task only).
4. **Metrics**: Dice, DSC30, HD95 (mm, or voxels under the learn2reg protocol), TRE, TRE30, SDlogJ
   and the runtime per pair, where the task has them. **DSC30**, Learn2Reg's robustness: the mean
   Dice over the 30 % hardest items, the hardest being those where the unregistered pair (the
   identity) scores lowest; TRE30 likewise with the largest initial TRE. *Deviation*: an item is a
   pair (its labels averaged, as in every regbench table) where Learn2Reg takes each (pair, label);
   without the identity in the study, the hardest pairs are those with the lowest mean over all
   methods. Where a method's runtime was not measured (an external method), it takes 0.1 there.
5. **Seeds**: the ranking uses each method's values averaged over its seeds; with several seeds the
   ranking is also made with each seed alone, and the table gives the range of each method's
   overall place over the seeds and in how many seeds it is first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from regbench.analysis import METRICS

#: Learn2Reg's robustness subset: this fraction of the hardest items
HARDEST = 0.3
#: the metrics ranked per task, in the tables' order, where a task has them (name -> higher is better)
RANKED = {
    "dice": True,
    "dsc30": True,
    "hd95": False,
    "hd95_voxels": False,
    "tre_mm": False,
    "tre30_mm": False,
    "sdlogj": False,
    "runtime_s": False,
}
LOWEST = 0.1
TITLES = {"dsc30": "DSC30", "tre30_mm": "TRE30 (mm)"}


def title(metric: str) -> str:
    return TITLES.get(metric) or METRICS[metric].title


def pair_table(pairs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``[pair_id × method]`` of one task's metric, averaged over seeds."""
    return pairs.groupby(["pair_id", "method"], sort=False)[metric].mean().unstack("method")


def hardest_pairs(table: pd.DataFrame, higher_is_better: bool, initial: str = "identity") -> pd.Index:
    """The 30 % of pairs (rounded, at least one) hardest before registration: lowest (or highest)
    for the identity, else for the mean over the methods."""
    reference = table[initial] if initial in table else table.mean(axis=1)
    reference = reference.dropna()
    count = max(1, round(HARDEST * len(reference)))
    ordered = reference.sort_values(ascending=higher_is_better, kind="stable")
    return ordered.index[:count]


def metric_tables(pairs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One task's ranked metrics, each as ``[pair × method]`` (DSC30 and TRE30 on their pairs)."""
    tables = {}
    for metric, higher in RANKED.items():
        source = {"dsc30": "dice", "tre30_mm": "tre_mm"}.get(metric, metric)
        if source not in pairs or pairs[source].isna().all():
            continue
        table = pair_table(pairs, source)
        if metric != source:
            table = table.loc[hardest_pairs(table, higher)]
        tables[metric] = table
    return tables


def beaten(table: pd.DataFrame, higher_is_better: bool, alpha: float) -> pd.Series:
    """Per method, how many methods beat it on this metric (significantly better, paired)."""
    methods = list(table.columns)
    values = table.to_numpy(float)
    losses = dict.fromkeys(methods, 0)
    first, second = np.triu_indices(len(methods), k=1)
    differences = values[:, first] - values[:, second]  # [pairs, comparisons]
    p = np.full(len(first), np.nan)
    complete = ~np.isnan(differences).any(axis=0)
    nonzero = (differences != 0).any(axis=0)
    batch = complete & nonzero & ((differences != 0).sum(axis=0) >= 2)
    if batch.any():  # one vectorised call for the comparisons without missing pairs
        p[batch] = wilcoxon(differences[:, batch], axis=0).pvalue
    for k in np.flatnonzero(~complete):
        shared = differences[~np.isnan(differences[:, k]), k]
        if (shared != 0).sum() >= 2:
            p[k] = wilcoxon(shared).pvalue
    # the direction of the signed-rank statistic: the sum of the signed ranks of |difference|
    nonzero_differences = np.where(differences == 0, np.nan, differences)
    ranks = pd.DataFrame(np.abs(nonzero_differences)).rank().to_numpy()
    sign = (1 if higher_is_better else -1) * np.nansum(np.sign(nonzero_differences) * ranks, axis=0)
    for k in np.flatnonzero(p < alpha):
        winner, loser = (first[k], second[k]) if sign[k] > 0 else (second[k], first[k])
        losses[methods[loser]] += 1
    return pd.Series(losses)


def rank_scores(losses: pd.Series) -> pd.Series:
    """Learn2Reg's rank score: places from 0.1 (most beaten) to 1, shared by equal scores."""
    n = len(losses)
    if n == 1:
        return pd.Series(1.0, index=losses.index)
    places = pd.Series(
        np.linspace(LOWEST, 1, n), index=losses.sort_values(ascending=False, kind="stable").index
    )
    return places.groupby(losses).transform("mean").reindex(losses.index)


def task_ranks(pairs: pd.DataFrame, methods: list[str], alpha: float) -> pd.DataFrame:
    """``[method × metric]`` rank scores of one task, and its ``task`` rank (geometric mean)."""
    scores = {}
    for metric, table in metric_tables(pairs).items():
        present = [m for m in methods if m in table and table[m].notna().any()]
        score = (
            rank_scores(beaten(table[present], RANKED[metric], alpha)) if present else pd.Series(dtype=float)
        )
        scores[metric] = score.reindex(methods).fillna(LOWEST)
    frame = pd.DataFrame(scores, index=methods)
    frame["task"] = np.exp(np.log(frame).mean(axis=1)) if len(frame.columns) else LOWEST
    return frame


def _geometric(frame: pd.DataFrame) -> pd.Series:
    return np.exp(np.log(frame.fillna(LOWEST)).mean(axis=1))


def _overall(pairs: pd.DataFrame, methods: list[str], alpha: float) -> tuple[pd.Series, dict]:
    per_task = {task: task_ranks(group, methods, alpha) for task, group in pairs.groupby("task", sort=False)}
    overall = _geometric(pd.DataFrame({task: frame["task"] for task, frame in per_task.items()}))
    return overall, per_task


def leaderboard(pairs: pd.DataFrame, alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The overall leaderboard (one row per method, best first) and the per-task one (one row per
    task and method: metric ranks, task rank, place and each ranked metric's mean)."""
    methods = list(dict.fromkeys(pairs["method"]))
    overall, per_task = _overall(pairs, methods, alpha)
    seeds = sorted(s for s in pairs["seed"].dropna().unique())
    places_by_seed = {}
    if len(seeds) > 1:
        for seed in seeds:  # methods without seeds (the baselines) take part in every seed's ranking
            chosen = pairs[(pairs["seed"] == seed) | pairs["seed"].isna()]
            score, _ = _overall(chosen, methods, alpha)
            places_by_seed[seed] = score.rank(ascending=False, method="min")
    board = pd.DataFrame({"method": methods, "rank_score": overall.reindex(methods).to_numpy()})
    board["place"] = board["rank_score"].rank(ascending=False, method="min").astype(int)
    for task, frame in per_task.items():
        board[f"{task}_rank"] = frame["task"].reindex(methods).to_numpy()
    if places_by_seed:
        by_seed = pd.DataFrame(places_by_seed).reindex(methods)
        board["place_best_seed"] = by_seed.min(axis=1).astype(int).to_numpy()
        board["place_worst_seed"] = by_seed.max(axis=1).astype(int).to_numpy()
        board["first_in_seeds"] = (by_seed == 1).sum(axis=1).to_numpy()
        board["seeds"] = len(seeds)
    rows = []
    for task, frame in per_task.items():
        group = pairs[pairs["task"] == task]
        tables = metric_tables(group)
        places = frame["task"].rank(ascending=False, method="min")
        for method in methods:
            row = {
                "task": task,
                "method": method,
                "task_rank": frame.loc[method, "task"],
                "place": int(places[method]),
            }
            for metric, table in tables.items():
                row[f"{metric}_rank"] = frame.loc[method, metric]
                row[f"{metric}_mean"] = table[method].mean() if method in table else np.nan
            rows.append(row)
    tasks = pd.DataFrame(rows).sort_values(["task", "place"], kind="stable", ignore_index=True)
    return board.sort_values(["place", "method"], kind="stable", ignore_index=True), tasks
