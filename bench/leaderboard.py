"""The ranking and the results page of a synthetic study, timed.

A study of ``--methods`` methods × ``--tasks`` tasks × ``--pairs`` pairs (default 40 × 5 × 100; the
identity among them), with Dice, HD95, SDlogJ and runtime per pair drawn around a per-method
quality, goes through :func:`regbench.analysis.ranking.leaderboard` and the page writer (no
figures). It ends with one line:

    methods=<n> tasks=<t> pairs=<p> seconds=<s> page_kb=<k>

(goal: under 10 s and under 2 MB).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from regbench.analysis import page, ranking


def synthetic(methods: int, tasks: int, pairs: int, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    names = ["identity", *(f"method{k:02d}" for k in range(1, methods))]
    quality = dict(zip(names, [0.0, *rng.uniform(0.05, 0.3, methods - 1)]))
    frames, summaries = [], {}
    for t in range(tasks):
        task = f"task{t}"
        difficulty = rng.uniform(0.4, 0.7, pairs)
        for name in names:
            dice = np.clip(difficulty + quality[name] + rng.normal(0, 0.03, pairs), 0, 1)
            frames.append(
                pd.DataFrame(
                    {
                        "task": task,
                        "method": name,
                        "seed": np.nan if name == "identity" else 0,
                        "pair_id": [f"pair-{i:03d}" for i in range(pairs)],
                        "dice": dice,
                        "hd95": 10 * (1 - dice) + rng.gamma(2, 0.3, pairs),
                        "sdlogj": 0.0
                        if name == "identity"
                        else rng.uniform(0.05, 0.5) + rng.normal(0, 0.01, pairs),
                        "runtime_s": 0.0
                        if name == "identity"
                        else rng.lognormal(-2, 1) * rng.uniform(0.9, 1.1, pairs),
                    }
                )
            )
        groups = ["Reference" if name == "identity" else "External methods" for name in names]
        summaries[task] = pd.DataFrame({"task": task, "method": names, "group": groups})
    return pd.concat(frames, ignore_index=True), summaries


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", type=int, default=40)
    p.add_argument("--tasks", type=int, default=5)
    p.add_argument("--pairs", type=int, default=100)
    a = p.parse_args()
    pairs, summaries = synthetic(a.methods, a.tasks, a.pairs)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        board, per_task = ranking.leaderboard(pairs)
        path = page.write_page(board, per_task, summaries, Path(folder) / "leaderboard.html")
        seconds = time.perf_counter() - start
        size = path.stat().st_size / 1024
    print(board.head(10).to_string(index=False))
    print(f"methods={a.methods} tasks={a.tasks} pairs={a.pairs} seconds={seconds:.2f} page_kb={size:.0f}")


if __name__ == "__main__":
    main()
