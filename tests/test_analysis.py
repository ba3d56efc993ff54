"""Statistics and tables on hand-made per-pair values with known answers."""

import numpy as np
import pandas as pd
import pytest

from regbench.analysis import stats, tables


def pair_table(effects: dict[str, float], task="t", n=12, seeds=(0, 1)) -> pd.DataFrame:
    """Per-pair rows: Dice of ``method`` = baseline Dice × (1 + effect), HD95 = baseline / (1 + effect)."""
    rng = np.random.default_rng(0)
    base_dice, base_hd = rng.uniform(0.6, 0.8, n), rng.uniform(2, 5, n)
    rows = []
    for method, effect in effects.items():
        for seed in seeds:
            for i in range(n):
                rows.append(
                    dict(
                        task=task,
                        method=method,
                        seed=seed,
                        pair_id=f"p{i}",
                        dice=base_dice[i] * (1 + effect),
                        hd95=base_hd[i] / (1 + effect),
                    )
                )
    return pd.DataFrame(rows)


def test_holm_by_hand():
    adjusted = stats.holm([0.01, 0.04, 0.03, np.nan])
    np.testing.assert_allclose(adjusted[:3], [0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])


def test_compare_paired_wilcoxon_holm_and_improvement_signs():
    pairs = pair_table({"cnn": 0.0, "cnn-DWP": 0.05, "swin": 0.0, "lk": -0.02})
    result = stats.compare(pairs).set_index(["metric", "method"])
    better = result.loc[("dice", "cnn-DWP")]
    assert better["improvement_pct"] == pytest.approx(5.0)
    assert better["p_value"] == pytest.approx(2 / 2**12)  # exact two-sided, 12 of 12 pairs better
    assert better["p_holm"] == pytest.approx(3 * 2 / 2**12)  # 3 methods tested, this one among the smallest
    assert better["significance"] == "better" and result.loc[("dice", "lk"), "significance"] == "worse"
    assert result.loc[("dice", "swin"), "p_value"] == 1 and result.loc[("dice", "swin"), "significance"] == ""
    # lower HD95 is better: the same method improves on both metrics
    assert result.loc[("hd95", "cnn-DWP"), "improvement_pct"] == pytest.approx(100 * (1 - 1 / 1.05))
    assert result.loc[("dice", "cnn"), "pairs"] == 12  # seeds are averaged per pair
    assert stats.compare(pairs[pairs["method"] != "cnn"]).empty


def test_contrasts_hold_one_factor_fixed():
    found = stats.contrasts(["identity", "cnn", "cnn-DWP", "swin", "swin-DWP", "lk-DWP", "vfa"])
    assert sorted(found) == [
        ("backbone", "lk-DWP", "cnn-DWP"),
        ("backbone", "swin", "cnn"),
        ("backbone", "swin-DWP", "cnn-DWP"),
        ("design", "cnn-DWP", "cnn"),
        ("design", "swin-DWP", "swin"),
    ]


def test_disentangle_recovers_known_effects_per_task_and_across_tasks():
    # designs: +10% Dice in task a, +20% in task b; backbone (swin for cnn): no change
    a = pair_table({"cnn": 0.0, "cnn-DWP": 0.10, "swin": 0.0, "swin-DWP": 0.10}, task="a")
    b = pair_table({"cnn": 0.0, "cnn-DWP": 0.20, "swin": 0.0, "swin-DWP": 0.20}, task="b", n=9)
    summary, detail = stats.disentangle(pd.concat([a, b]), metrics=["dice"], n_boot=200)
    effect = summary.set_index(["task", "factor"])
    for task, factor, value in [
        ("a", "design", 10),
        ("b", "design", 20),
        ("all tasks", "design", 15),
        ("a", "backbone", 0),
        ("all tasks", "backbone", 0),
    ]:
        row = effect.loc[(task, factor)]
        # a constant relative effect is the same in every resample: the interval is a point
        assert row["improvement_pct"] == pytest.approx(value)
        assert row["ci_low"] == pytest.approx(value) and row["ci_high"] == pytest.approx(value)
    assert effect.loc[("all tasks", "design"), "tasks"] == 2
    assert effect.loc[("all tasks", "design"), "contrasts"] == 4
    assert len(detail) == 8


def test_bootstrap_interval_covers_a_noisy_effect():
    pairs = pair_table({"cnn": 0.0, "cnn-D": 0.0})
    noise = np.random.default_rng(1).normal(0, 0.02, 24)
    pairs.loc[pairs["method"] == "cnn-D", "dice"] += noise
    summary, _ = stats.disentangle(pairs, metrics=["dice"], n_boot=500)
    row = summary.iloc[0]
    assert row["ci_low"] < row["improvement_pct"] < row["ci_high"]
    assert row["ci_high"] - row["ci_low"] > 0.5


def test_paper_table_groups_bold_markers_and_nan_note():
    pairs = pair_table({"cnn": 0.0, "cnn-DWP": 0.05, "swin": -0.03, "identity": -0.3})
    pairs["dice_nan"] = 0
    pairs.loc[pairs["method"] == "swin", "dice_nan"] = 1
    pairs["lost_labels"] = 0.0
    pairs.loc[(pairs["method"] == "identity") & (pairs["pair_id"] == "p0"), "lost_labels"] = 2
    comparison = stats.compare(pairs)
    table = tables.summary(pairs, comparison)
    assert list(table["method"]) == ["identity", "cnn", "swin", "cnn-DWP"]
    assert list(table["group"]) == [
        "Reference",
        "Baseline",
        "Trend-driven backbones",
        "Registration-specific designs",
    ]
    text = tables.markdown(table)
    row = next(line for line in text.splitlines() if line.startswith("| cnn-DWP"))
    assert "**" in row and "↑" in row  # best learned Dice and lowest HD95, significantly better
    assert "↓" in next(line for line in text.splitlines() if line.startswith("| swin"))
    assert "Dice 24 (swin)" in text  # 12 pairs × 2 seeds with one empty label each
    # 2 structures lost on one pair, in each of 2 seeds
    assert "Structures lost by registration" in text and "identity 4" in text and "cnn 0" not in text
    latex = tables.latex(table)
    assert r"\textbf{" in latex and r"$^{\uparrow}$" in latex and r"\emph{Baseline}" in latex
    assert "±" not in latex and "_" not in latex.replace(r"\_", "")


def test_per_pair_has_one_row_per_method_seed_and_pair():
    rows = pd.DataFrame(
        [
            dict(
                task="t",
                method=m,
                seed=s,
                pair_id=p,
                fixed="a",
                moving="b",
                label=name,
                metric="dice",
                value=v,
            )
            for m, s in (("identity", pd.NA), ("cnn", 0), ("cnn", 1))
            for p in ("p0", "p1", "p2")
            for name, v in (("L1", 0.5), ("L2", np.nan))
        ]
    )
    pairs = tables.per_pair(rows.astype({"seed": "Int64"}))
    assert len(pairs) == 3 * 3  # no rows for absent (method, seed) combinations
    assert pairs["dice"].eq(0.5).all() and pairs["dice_nan"].eq(1).all()


def test_training_figure_shows_the_validation_panels_that_were_logged(tmp_path):
    from regbench.analysis.figures import training_figure

    runs = []
    for model, dice in (("cnn", [0.5, 0.7]), ("vxm", [np.nan, np.nan])):
        run = tmp_path / "train" / model / "seed0"
        run.mkdir(parents=True)
        pd.DataFrame({"iteration": [1, 2, 3], "loss": [0.3, 0.2, 0.1]}).to_csv(
            run / "train_log.csv", index=False
        )
        validation = {"iteration": [0, 3], "pairs": [2, 2], "similarity": [-0.1, -0.4], "dice": dice}
        pd.DataFrame(validation).to_csv(run / "val_log.csv", index=False)
        runs.append(run)
    assert training_figure(runs, tmp_path / "both.png") == ["loss", "similarity", "dice"]
    assert (tmp_path / "both.png").stat().st_size > 10_000 and (tmp_path / "both.pdf").exists()
    # unlabelled validation subjects: no Dice panel; no validation subjects: the loss alone
    assert training_figure(runs[1:], tmp_path / "no-dice.png") == ["loss", "similarity"]
    (runs[1] / "val_log.csv").write_text("iteration,pairs,similarity,dice\n")
    assert training_figure(runs[1:], tmp_path / "loss.png") == ["loss"]


def seeded_table(design_effects: dict[int, float], n=40, noise=0.01) -> pd.DataFrame:
    """cnn and cnn-DWP on the same ``n`` pairs with one row per seed; cnn-DWP's Dice is cnn's
    times (1 + the seed's design effect), plus pair noise."""
    rng = np.random.default_rng(7)
    base = rng.uniform(0.6, 0.8, n)
    rows = []
    for seed, effect in design_effects.items():
        jitter = rng.normal(0, noise, n)
        for method, values in (("cnn", base), ("cnn-DWP", base * (1 + effect) + jitter)):
            rows += [
                dict(task="t", method=method, seed=seed, pair_id=f"p{i}", dice=v)
                for i, v in enumerate(values)
            ]
    return pd.DataFrame(rows)


def test_effects_of_opposite_sign_across_seeds_give_an_interval_that_contains_zero():
    """Seeds 0-2 find +8 %, -6 %, +2 %: over the pairs alone each seed's interval is narrow and
    two of them exclude 0; with the seeds resampled the interval covers them all, and 0."""
    pairs = seeded_table({0: 0.08, 1: -0.06, 2: 0.02})
    summary, detail = stats.disentangle(pairs, metrics=["dice"], n_boot=2000)
    row = summary.set_index("factor").loc["design"]
    assert row["ci_low"] < 0 < row["ci_high"] and row["ci_low"] < -4 and row["ci_high"] > 6
    assert (row["seeds"], row["sign_agreement"]) == (3, 2)  # +8 and +2 agree with the estimate's sign
    for seed in (0, 1):
        alone, _ = stats.disentangle(pairs[pairs["seed"] == seed], metrics=["dice"], n_boot=2000)
        one = alone.iloc[0]
        assert not one["ci_low"] < 0 < one["ci_high"] and one["ci_high"] - one["ci_low"] < 2
        assert one["seeds"] == 1
    comparison = stats.compare(pairs, n_boot=2000).set_index(["metric", "method"]).loc[("dice", "cnn-DWP")]
    assert comparison["ci_low"] < 0 < comparison["ci_high"] and comparison["sign_agreement"] == 2
    assert comparison["significance"] == ""  # the pairs test alone would not see the disagreement
    assert comparison["seed_std"] > 0.03


def test_identical_seeds_give_the_pairs_only_result():
    once = seeded_table({0: 0.05})
    thrice = pd.concat([once.assign(seed=s) for s in (0, 1, 2)], ignore_index=True)
    for frame in (stats.disentangle(once, ["dice"], 500)[0], stats.compare(once, n_boot=500)):
        again = (
            stats.disentangle(thrice, ["dice"], 500)[0]
            if "factor" in frame
            else stats.compare(thrice, n_boot=500)
        )
        for column in ("improvement_pct", "ci_low", "ci_high"):
            np.testing.assert_allclose(again[column], frame[column], rtol=1e-12)
    summary = stats.disentangle(thrice, ["dice"], 500)[0].iloc[0]
    assert (summary["seeds"], summary["sign_agreement"]) == (3, 3)


def test_one_seed_tables_say_that_training_variance_is_missing():
    once = seeded_table({0: 0.05})
    text = tables.markdown(tables.summary(once, stats.compare(once, n_boot=200)))
    assert "training variance is not in these numbers" in text
    assert "[" not in next(line for line in text.splitlines() if line.startswith("| cnn-DWP"))
    several = seeded_table({0: 0.05, 1: 0.02})
    text = tables.markdown(tables.summary(several, stats.compare(several, n_boot=200)))
    assert "training variance is not" not in text and "std between the seeds' means" in text
    row = next(line for line in text.splitlines() if line.startswith("| cnn-DWP"))
    assert row.count("[") == 1  # mean ± std over pairs [std between seeds]


def test_intervals_do_not_depend_on_the_order_of_methods_and_seeds_are_counted_per_method():
    """A merged study lists its methods in another order than one run; and a method without seeds
    (the identity) beside seeded ones must not give anyone a phantom seed."""
    pairs = seeded_table({0: 0.08, 1: -0.02})
    identity = pairs[(pairs["method"] == "cnn") & (pairs["seed"] == 0)].assign(method="identity", seed=np.nan)
    identity["dice"] -= 0.1
    pairs = pd.concat([identity, pairs], ignore_index=True)
    shuffled = pairs.sample(frac=1.0, random_state=3).reset_index(drop=True)
    first, second = (
        stats.compare(p, n_boot=500).sort_values(["method", "metric"], ignore_index=True)
        for p in (pairs, shuffled)
    )
    pd.testing.assert_frame_equal(first, second)
    seeds = first.set_index("method")["seeds"]
    assert seeds["identity"] == 1 and seeds["cnn"] == 2 and seeds["cnn-DWP"] == 2
