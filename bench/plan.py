"""How long planning takes (a benchmark, not a test): the import of ``regbench.config`` (what
the Snakefile imports) and ``snakemake -n`` of the demo study and of ``config/paper.yaml``.

    python bench/plan.py              # median of 3 runs each, from the checkout
    python bench/plan.py --repeat 5

Each figure comes from a fresh process (as a user's command would); the dry runs plan in a
temporary working directory, so nothing under results/ affects them. The last line reads
``import_s=<s> demo_dryrun_s=<s> paper_dryrun_s=<s>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _seconds(cmd: list[str], cwd: Path, repeat: int) -> float:
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        imported = _seconds([sys.executable, "-c", "import regbench.config"], work, a.repeat)
        print(f"import regbench.config: {imported:.2f} s")
        dry = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-n", "--quiet"]
        dry += ["--directory", str(work)]
        demo = _seconds([*dry, "--configfile", str(REPO / "config/config.yaml")], work, a.repeat)
        print(f"snakemake -n, demo study: {demo:.2f} s")
        paper = _seconds([*dry, "--configfile", str(REPO / "config/paper.yaml")], work, a.repeat)
        print(f"snakemake -n, config/paper.yaml: {paper:.2f} s")
    print(f"import_s={imported:.2f} demo_dryrun_s={demo:.2f} paper_dryrun_s={paper:.2f}")


if __name__ == "__main__":
    main()
