"""The regularisation weight λ chosen per model on the validation pairs (``training.lambda_grid``).

Each model trains once per λ of the grid and seed (``train/<model>/seed<k>/lambda<λ>/``). Its
validation log (:mod:`regbench.validation`: the val split's pairs, never a test pair) gives, at
the last iteration, the mean Dice, the similarity loss and the folding (% det J ≤ 0) of each run.
Per model, over its seeds:

1. the λ whose mean folding stays within ``training.lambda_max_folding_pct`` are eligible (none
   eligible: the λ that folds least, and the selection says the bound was not met);
2. among them, the best mean validation Dice (where the validation subjects have labels), else the
   lowest similarity loss, wins; ties go to the larger λ (the smoother field).

The choice is written to ``train/<model>/lambda.json``, and each seed's run at that λ is copied to
``train/<model>/seed<k>/`` (model, logs, snapshots), where registration, snapshots and the training
curves find it as they find an ordinary run. Only then are the test pairs registered, once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from regbench.io import atomic_path, read_json, write_json


def last_validation(run: Path) -> dict:
    """The last row of a run's validation log (``val_log.csv`` beside its model)."""
    path = run / "val_log.csv"
    try:
        log = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        raise ValueError(f"{path}: no validation log; λ is chosen on the validation pairs") from None
    if log.empty or "folding_pct" not in log:
        raise ValueError(
            f"{path}: no validation rows with folding (a task without a val split, or val_every 0, "
            "cannot choose λ)"
        )
    return log.iloc[-1].to_dict()


def select(runs: dict[float, list[Path]], max_folding_pct: float) -> dict:
    """The selection over ``runs`` (λ -> that λ's run folders, one per seed)."""
    candidates = []
    for lam, folders in sorted(runs.items()):
        rows = pd.DataFrame([last_validation(Path(folder)) for folder in folders])
        candidates.append(
            {
                "lambda": lam,
                "seeds": len(rows),
                "dice": float(rows["dice"].mean()),
                "similarity": float(rows["similarity"].mean()),
                "folding_pct": float(rows["folding_pct"].mean()),
            }
        )
    table = pd.DataFrame(candidates)
    criterion = "dice" if table["dice"].notna().all() else "similarity"
    table["eligible"] = table["folding_pct"] <= max_folding_pct
    pool = (
        table[table["eligible"]]
        if table["eligible"].any()
        else table[table["folding_pct"] == table["folding_pct"].min()]
    )
    # best score first, then the larger λ
    ordered = pool.sort_values(
        [criterion, "lambda"], ascending=[criterion == "similarity", False], kind="stable"
    )
    return {
        "selected": float(ordered.iloc[0]["lambda"]),
        "criterion": f"validation {criterion}",
        "max_folding_pct": max_folding_pct,
        "bound_met": bool(table["eligible"].any()),
        "candidates": table.to_dict(orient="records"),
    }


def run_folder(seed_folder: str | Path, lam: float) -> Path:
    return Path(seed_folder) / f"lambda{lam:g}"


def use_selected(selection_path: str | Path, seed_folder: str | Path, out: str | Path) -> Path:
    """Copy the seed's run at the selected λ into ``seed_folder``: its logs, snapshots, and last
    its model file ``out`` (fresh files, so that they are newer than the selection)."""
    selected = read_json(selection_path)["selected"]
    source, seed_folder = run_folder(seed_folder, selected), Path(seed_folder)
    for name in ("train_log.csv", "val_log.csv"):
        with atomic_path(seed_folder / name) as tmp:
            shutil.copyfile(source / name, tmp)
    kept = seed_folder / "snapshots"
    shutil.rmtree(kept, ignore_errors=True)
    if (source / "snapshots").is_dir():
        shutil.copytree(source / "snapshots", kept, copy_function=shutil.copyfile)
    with atomic_path(out) as tmp:
        shutil.copyfile(source / "model.pt", tmp)
    return Path(out)


def write_selection(runs: dict[float, list[Path]], max_folding_pct: float, out: str | Path) -> dict:
    selection = select(runs, max_folding_pct)
    write_json(out, selection)
    return selection
