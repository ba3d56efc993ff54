"""The seed-aware disentangling of the demo study, with several training seeds.

By default it reads the committed per-pair results of a demo study run with seeds 0-2
(``docs/results/demo-seeds/per_pair.csv``); ``--run DIR`` makes them afresh (the demo config with
``--seeds``, the identity as the only baseline and no stress sets, in DIR; about 10 minutes on 2
cores for 3 seeds) and ``--commit`` copies them over the committed file.

It prints, per seed alone and for all seeds together, the design and backbone effects on Dice with
their 95 % intervals: a seed alone has the pairs-only interval of a one-seed study, the seeds
together the two-level bootstrap (pairs and seeds), and whether each seed's estimate falls inside
the first seed's interval. It ends with one line:

    seeds=<n> design_effect=<x> design_ci=[<lo>,<hi>] backbone_effect=<y> backbone_ci=[<lo>,<hi>]
    sign_agreement=<k>/<n>

(``sign_agreement``: the seeds in which the design effect has the pooled estimate's sign.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from regbench.analysis import stats

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "docs/results/demo-seeds/per_pair.csv"


def fresh(folder: Path, seeds: list[int]) -> Path:
    """Run the demo study with ``seeds`` in ``folder``; its per-pair table."""
    folder.mkdir(parents=True, exist_ok=True)
    overrides = [f"seeds=[{','.join(map(str, seeds))}]", "baselines=[identity]"]
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2"]
    cmd += ["--directory", str(folder), "--configfile", str(REPO / "config/config.yaml")]
    cmd += ["--config", *overrides, "--", "results/demo/tables/per_pair.csv"]
    # the jobs call `python`: this interpreter's
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    subprocess.run(cmd, check=True, env=env)
    return folder / "results/demo/tables/per_pair.csv"


def effects(pairs: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    summary, _ = stats.disentangle(pairs, metrics=["dice"], n_boot=n_boot)
    return summary.set_index("factor")


def interval(row) -> str:
    return f"{row['improvement_pct']:+6.2f} [{row['ci_low']:+6.2f}, {row['ci_high']:+6.2f}]"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, help="run the demo study afresh in this folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--commit", action="store_true", help="copy a fresh run's per-pair table to docs/results/")
    p.add_argument("--bootstrap", type=int, default=2000)
    a = p.parse_args()
    source = fresh(a.run, a.seeds) if a.run else COMMITTED
    if a.commit and a.run:
        COMMITTED.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, COMMITTED)
    pairs = pd.read_csv(source)
    pairs = pairs[pairs["seed"].notna()]  # the networks (the identity has no seed)
    seeds = sorted(int(s) for s in pairs["seed"].unique())
    print(f"{source}: {pairs['pair_id'].nunique()} test pairs, seeds {seeds}")
    print(f"{'':>14} {'design (%)':>28} {'backbone (%)':>28}")
    first = None
    for seed in seeds:
        alone = effects(pairs[pairs["seed"] == seed], a.bootstrap)
        first = alone if first is None else first
        cells = []
        for factor in ("design", "backbone"):
            row = alone.loc[factor]
            inside = first.loc[factor, "ci_low"] <= row["improvement_pct"] <= first.loc[factor, "ci_high"]
            mark = "" if seed == seeds[0] else ("  in" if inside else " OUT")
            cells.append(interval(row) + mark)
        print(f"seed {seed} alone: {cells[0]:>28} {cells[1]:>28}")
    pooled = effects(pairs, a.bootstrap)
    cells = [interval(pooled.loc[factor]) for factor in ("design", "backbone")]
    print(f"{'all seeds':>14} {cells[0]:>28} {cells[1]:>28}  (pairs and seeds resampled)")
    design, backbone = pooled.loc["design"], pooled.loc["backbone"]
    print(
        f"seeds={len(seeds)} design_effect={design['improvement_pct']:.2f} "
        f"design_ci=[{design['ci_low']:.2f},{design['ci_high']:.2f}] "
        f"backbone_effect={backbone['improvement_pct']:.2f} "
        f"backbone_ci=[{backbone['ci_low']:.2f},{backbone['ci_high']:.2f}] "
        f"sign_agreement={design['sign_agreement']}/{design['seeds']}"
    )


if __name__ == "__main__":
    main()
