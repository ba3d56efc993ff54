"""The Learn2Reg ranking on hand-made per-pair tables whose ranking is known, and the page."""

import numpy as np
import pandas as pd
import pytest

from regbench.analysis import ranking


def pairs_of(values: dict[str, np.ndarray], task="t", metric="dice", seed=0) -> pd.DataFrame:
    rows = [
        dict(task=task, method=m, seed=seed, pair_id=f"p{i:02d}", **{metric: v})
        for m, column in values.items()
        for i, v in enumerate(column)
    ]
    return pd.DataFrame(rows)


BASE = np.random.default_rng(0).uniform(0.5, 0.7, 20)


def test_ties_share_their_places_and_the_most_beaten_is_last():
    """A and B equal (neither beats the other), both beat C, all three beat D: D 0.1, C 0.4, A and B
    share (0.7 + 1.0) / 2."""
    table = pairs_of({"A": BASE + 0.1, "B": BASE + 0.1, "C": BASE, "D": BASE - 0.1}).pivot(
        index="pair_id", columns="method", values="dice"
    )
    losses = ranking.beaten(table, higher_is_better=True, alpha=0.05)
    assert losses.to_dict() == {"A": 0, "B": 0, "C": 2, "D": 3}
    assert ranking.rank_scores(losses).to_dict() == pytest.approx({"A": 0.85, "B": 0.85, "C": 0.4, "D": 0.1})
    # lower is better: the same values as errors rank the other way round
    assert ranking.beaten(table, higher_is_better=False, alpha=0.05).to_dict() == {
        "A": 2,
        "B": 2,
        "C": 1,
        "D": 0,
    }


def test_a_method_missing_pairs_is_compared_on_the_shared_ones_and_unscored_pairs_are_ignored():
    values = {"A": BASE + 0.1, "C": BASE.copy(), "E": BASE + 0.05}
    values["E"][10:] = np.nan  # E ran on 10 of the 20 pairs
    pairs = pairs_of(values)
    pairs.loc[pairs["pair_id"] == "p19", "dice"] = np.nan  # a pair no method could be scored on
    table = pairs.pivot(index="pair_id", columns="method", values="dice")
    # E beats C and loses to A on its 10 pairs (exact two-sided p = 2/1024)
    assert ranking.beaten(table, True, 0.05).to_dict() == {"A": 0, "C": 2, "E": 1}
    board, tasks = ranking.leaderboard(pairs)
    assert list(board["method"]) == ["A", "E", "C"] and list(board["place"]) == [1, 2, 3]


def test_dsc30_is_the_hardest_pairs_for_the_identity_and_tasks_combine_geometrically():
    """Two tasks: in the second, only A and C run; B gets 0.1 there. DSC30 is over the 6 pairs (30 %)
    where the identity's Dice is lowest."""
    identity = BASE - 0.2
    first = pairs_of({"identity": identity, "A": BASE + 0.1, "B": BASE, "C": BASE - 0.1}, task="one")
    first["seed"] = first["seed"].where(first["method"] != "identity")
    second = pairs_of({"A": BASE + 0.1, "C": BASE}, task="two")
    board, tasks = ranking.leaderboard(pd.concat([first, second], ignore_index=True))
    hardest = np.argsort(identity)[:6]
    one = tasks[tasks["task"] == "one"].set_index("method")
    assert one.loc["A", "dsc30_mean"] == pytest.approx((BASE + 0.1)[hardest].mean())
    assert one.loc["A", "task_rank"] == 1.0 and one.loc["identity", "task_rank"] == pytest.approx(0.1)
    score = board.set_index("method")["rank_score"]
    b_one = one.loc["B", "task_rank"]
    assert score["B"] == pytest.approx(np.sqrt(b_one * 0.1)) and score["A"] == 1.0
    assert list(board["method"])[0] == "A"


def test_the_page_shows_large_numbers_whole_and_keeps_the_exact_value_for_sorting():
    from regbench.analysis.page import _cell

    assert _cell(1886796.0) == '<td data-value="1886796.0">1,886,796</td>'  # parameters
    assert _cell(509.747) == '<td data-value="509.747">510</td>'  # peak memory (MB)
    assert _cell(0.74123) == '<td data-value="0.74123">0.741</td>'
    assert _cell(float("nan")) == '<td data-value="">–</td>'
