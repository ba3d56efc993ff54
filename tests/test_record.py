import pandas as pd
import pytest

from regbench.analysis.record import record, wall_times

COLUMNS = "s h:m:s max_rss max_vms max_uss max_pss io_in io_out mean_load cpu_time".split()
BENCHMARK = "\t".join(COLUMNS) + "\n{s}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t90\t1\n"


def _results(tmp_path):
    task = tmp_path / "results/t"
    for path, seconds in {
        "benchmarks/train/cnn-seed0.tsv": 120.5,
        "benchmarks/ants-seed0.part1of2.tsv": 30.0,
        "benchmarks/ants-seed0.part2of2.tsv": 31.0,
        "benchmarks/register/cnn-seed0.tsv": 4.0,
        "stress/svf/benchmarks/evaluate/cnn-seed0.tsv": 2.0,
    }.items():
        (task / path).parent.mkdir(parents=True, exist_ok=True)
        (task / path).write_text(BENCHMARK.format(s=seconds, rss=100 + seconds))
    (task / "tables").mkdir()
    (task / "tables/summary.csv").write_text("task,method\nt,cnn\n")
    (task / "tables/summary.md").write_text("### t\n")
    log = task / "train/cnn/seed0/train_log.csv"
    log.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            "iteration": range(1, 51),
            "loss": [-i / 50 for i in range(50)],
            "similarity": [-i / 60 for i in range(50)],
        }
    ).to_csv(log, index=False)
    (tmp_path / "results/study").mkdir()
    (tmp_path / "results/study/disentangling.md").write_text("| effect |\n")
    (tmp_path / "study.yaml").write_text("tasks: [t]\n")
    return tmp_path / "results"


def test_wall_times_name_each_stage_and_set(tmp_path):
    times = wall_times(_results(tmp_path) / "t").set_index("job")
    assert set(times.loc["cnn-seed0", "stage"]) == {"register", "train", "evaluate"}
    ants = times[times["stage"] == "ants"]
    assert len(ants) == 2 and ants["seconds"].sum() == 61.0 and ants["set"].eq("task").all()
    assert times[times["stage"] == "evaluate"]["set"].tolist() == ["stress/svf"]
    assert times[times["stage"] == "train"]["max_rss_mb"].tolist() == [220.5]


def test_record_copies_the_small_outputs_curves_and_config(tmp_path):
    results = _results(tmp_path)
    out = tmp_path / "docs/results/t-study"
    written = record(results, ["t"], tmp_path / "study.yaml", out)
    for name in (
        "t/tables/summary.md",
        "t/wall_times.csv",
        "t/training_curves.png",
        "study/disentangling.md",
    ):
        assert out / name in written and (out / name).stat().st_size > 0
    assert (out / "config.yaml").read_text() == "tasks: [t]\n"
    assert not (out / "t/figures").exists()  # only what exists is copied
    with pytest.raises(FileNotFoundError, match="task 'u' has no tables"):
        record(results, ["u"], tmp_path / "study.yaml", out)
