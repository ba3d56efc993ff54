"""λ chosen per model on the validation pairs: the rule on hand-made logs, and a grid trained and
chosen with every test subject's files gone, so that nothing of the test pairs can be read."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from regbench.selection import select, use_selected


def _run(folder: Path, rows: list[tuple]) -> Path:
    folder.mkdir(parents=True)
    log = pd.DataFrame(rows, columns=["iteration", "pairs", "similarity", "dice", "folding_pct"])
    log.to_csv(folder / "val_log.csv", index=False)
    return folder


def test_the_best_validation_dice_within_the_folding_bound_wins(tmp_path):
    """λ 0.1 has the best Dice but folds 3 % on average: out. Of the rest 1 beats 10."""
    runs = {}
    for lam, dice, folding in (
        (0.1, (0.80, 0.82), (2.0, 4.0)),
        (1.0, (0.78, 0.76), (0.5, 0.3)),
        (10.0, (0.70, 0.71), (0.1, 0.1)),
    ):
        runs[lam] = [
            _run(tmp_path / f"seed{k}" / f"lambda{lam:g}", [(0, 2, -0.1, 0.5, 0), (50, 2, -0.3, d, f)])
            for k, (d, f) in enumerate(zip(dice, folding))
        ]
    chosen = select(runs, max_folding_pct=1.0)
    assert chosen["selected"] == 1.0 and chosen["bound_met"] and chosen["criterion"] == "validation dice"
    assert [c["eligible"] for c in chosen["candidates"]] == [False, True, True]
    # nothing within the bound: the λ that folds least, said so
    strict = select(runs, max_folding_pct=0.05)
    assert strict["selected"] == 10.0 and not strict["bound_met"]
    with pytest.raises(ValueError, match=r"val_log.csv: no validation log"):
        select({1.0: [tmp_path / "nowhere"]}, 1.0)


def test_a_grid_trains_and_chooses_without_any_test_pair(tiny_manifest, tmp_path):
    from regbench.data.manifest import Manifest
    from regbench.train import train

    # a copy of the prepared data without a single file of a test subject
    data = tmp_path / "data"
    shutil.copytree(Path(tiny_manifest).parent, data)
    manifest = Manifest.load(data / "manifest.json")
    for subject in manifest.split("test"):
        for key in ("image", "labels"):
            (data / manifest.data["subjects"][subject][key]).unlink()
    settings = {
        "iterations": 20,
        "batch_size": 2,
        "lr": 0.002,
        "lr_decay": 1.0,
        "iterations_per_epoch": 10,
        "similarity": "lncc",
        "lncc_window": 5,
        "loss_mult": 1.0,
        "checkpoint_every": 10,
        "val_every": 10,
        "val_pairs": 2,
    }
    runs = {}
    for lam in (0.0, 5.0):
        folder = tmp_path / "train/cnn/seed0" / f"lambda{lam:g}"
        train(
            data / "manifest.json",
            "cnn",
            settings | {"lambda": lam},
            0,
            folder / "model.pt",
            folder / "train_log.csv",
            "cpu",
            1,
            0,
        )
        runs[lam] = [folder]
    chosen = select(runs, max_folding_pct=100.0)
    assert chosen["selected"] in (0.0, 5.0) and {c["seeds"] for c in chosen["candidates"]} == {1}
    selection = tmp_path / "train/cnn/lambda.json"
    selection.write_text(json.dumps(chosen))
    model = use_selected(selection, tmp_path / "train/cnn/seed0", tmp_path / "train/cnn/seed0/model.pt")
    source = tmp_path / "train/cnn/seed0" / f"lambda{chosen['selected']:g}"
    assert model.read_bytes() == (source / "model.pt").read_bytes()
    assert (model.parent / "val_log.csv").read_text() == (source / "val_log.csv").read_text()
