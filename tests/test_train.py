import subprocess
import sys
import time

import numpy as np
import pytest
import torch

SETTINGS = {
    "iterations": 60,
    "batch_size": 2,
    "lr": 0.002,
    "lr_decay": 0.996,
    "iterations_per_epoch": 50,
    "similarity": "lncc",
    "lncc_window": 5,
    "lambda": 1.0,
    "checkpoint_every": 10,
    "val_every": 20,
}


def train_cmd(manifest, out):
    import json

    return [
        sys.executable,
        "-m",
        "regbench",
        "train",
        "--manifest",
        str(manifest),
        "--model",
        "cnn-DWP",
        "--settings",
        json.dumps(SETTINGS),
        "--seed",
        "1",
        "--out",
        str(out),
        "--log",
        str(out.with_name("log.csv")),
        "--device",
        "cpu",
        "--threads",
        "1",
    ]


def test_killed_training_resumes_from_checkpoint_and_matches_uninterrupted(tiny_manifest, tmp_path):
    reference = tmp_path / "reference" / "model.pt"
    subprocess.run(train_cmd(tiny_manifest, reference), check=True, capture_output=True)

    resumed = tmp_path / "resumed" / "model.pt"
    checkpoint = resumed.with_name("checkpoint.pt")
    process = subprocess.Popen(
        train_cmd(tiny_manifest, resumed), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert checkpoint.exists(), "no checkpoint was written before the kill"
    assert not resumed.exists(), "a killed run must not leave a model file"
    # the logs grow in running files: nothing that looks like a finished run's log is left
    assert not resumed.with_name("log.csv").exists() and not resumed.with_name("val_log.csv").exists()
    assert resumed.with_name("log.running.csv").exists()

    rerun = subprocess.run(train_cmd(tiny_manifest, resumed), check=True, capture_output=True, text=True)
    assert "resuming cnn-DWP" in rerun.stdout
    assert not checkpoint.exists() and not resumed.with_name("log.running.csv").exists()
    a = torch.load(reference, weights_only=False)["state_dict"]
    b = torch.load(resumed, weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = resumed.with_name("log.csv").read_text().splitlines()
    assert lines[0].startswith("iteration,loss")
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, 61))  # whole, once each
    # validation at the start, every 20 iterations and at the end, each once, as uninterrupted
    validation = resumed.with_name("val_log.csv").read_text()
    assert validation == reference.with_name("val_log.csv").read_text()
    assert [int(line.split(",")[0]) for line in validation.splitlines()[1:]] == [0, 20, 40, 60]


def test_checkpoint_from_other_settings_is_ignored(tiny_manifest, tmp_path):
    out = tmp_path / "model.pt"
    torch.save({"fingerprint": "other", "iteration": 30}, out.with_name("checkpoint.pt"))
    done = subprocess.run(train_cmd(tiny_manifest, out), check=True, capture_output=True, text=True)
    assert "ignoring" in done.stdout and out.exists()


def test_training_pairs_restrict_the_sampled_pairs_and_draw_both_directions():
    from regbench.batches import draw_pairs

    pairs = np.array([[0, 1], [4, 5]])
    seen = set()
    for it in range(40):
        first, second, _ = draw_pairs(6, np.random.default_rng([0, it]), 4, False, pairs)
        seen |= set(zip(first.tolist(), second.tolist()))
    assert seen == {(0, 1), (1, 0), (4, 5), (5, 4)}


def test_streamed_batches_depend_only_on_seed_and_iteration(tiny_manifest):
    """What lets workers read ahead and a resumed run continue identically: batch ``it`` is the
    same whether read from the start or after a resume, in the main process or by workers."""
    from regbench.batches import TrainingBatches, loader
    from regbench.data.manifest import Manifest

    manifest = Manifest.load(tiny_manifest)
    subjects = manifest.split("train")
    settings = {"batch_size": 2, "iterations": 12, "flip": True}
    whole = list(loader(TrainingBatches(manifest, subjects, settings, 3, 0), workers=0, pin=False))
    resumed = list(loader(TrainingBatches(manifest, subjects, settings, 3, 5), workers=2, pin=False))
    assert len(whole) == 12 and len(resumed) == 7
    for (s1, t1), (s2, t2) in zip(whole[5:], resumed):
        assert torch.equal(s1, s2) and torch.equal(t1, t2)
    source, target = whole[0]
    assert source.shape == (2, 1, *manifest.data["shape"]) and source.dtype == torch.float32
    images = [torch.from_numpy(manifest.image(s)) for s in subjects]
    for batch in whole:  # every image is a training subject's, possibly flipped along axis 0
        for image in (*batch[0][:, 0], *batch[1][:, 0]):
            assert any(torch.equal(image, i) or torch.equal(image, i.flip(0)) for i in images)
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(whole, whole[1:]))


def test_training_pairs_outside_the_train_split_are_named(tmp_path, tiny_manifest):
    from regbench.data.manifest import Manifest
    from regbench.train import training_pairs

    manifest = Manifest.load(tiny_manifest)
    train = manifest.split("train")
    manifest.data["training_pairs"] = [[train[0], train[1]]]
    assert training_pairs(manifest, train).tolist() == [[0, 1]]
    manifest.data["training_pairs"] = [[train[0], "sub-999"]]
    with pytest.raises(
        ValueError, match=r"training_pairs has subjects outside the train split: \['sub-999'\]"
    ):
        training_pairs(manifest, train)


class Planted:
    """Unpickling this calls ``Path.touch`` on the marker: code run from a data file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return Path.touch, (Path(self.marker),)


def test_crafted_checkpoint_and_model_files_run_no_code(tiny_manifest, tmp_path):
    from regbench.snapshots import load
    from regbench.train import train

    marker = tmp_path / "ran"
    out = tmp_path / "model.pt"
    torch.save({"fingerprint": Planted(marker), "iteration": 30}, out.with_name("checkpoint.pt"))
    with pytest.raises(ValueError, match="checkpoint.pt: not a regbench checkpoint"):
        train(tiny_manifest, "cnn", SETTINGS, 1, out, tmp_path / "log.csv", device="cpu")
    torch.save({"model": "cnn", "ndim": 2, "state_dict": {}, "settings": Planted(marker)}, out)
    with pytest.raises(ValueError, match="model.pt: not a regbench model file"):
        load(out, torch.device("cpu"))
    assert not marker.exists()


def test_a_non_finite_loss_stops_training_naming_the_iteration(tiny_manifest, tmp_path, monkeypatch):
    from regbench import train as training

    real = training.objective
    calls = []

    def diverging(*args):
        total, sim, reg = real(*args)
        calls.append(1)
        return (total * float("nan") if len(calls) == 3 else total), sim, reg

    monkeypatch.setattr(training, "objective", diverging)
    out = tmp_path / "model.pt"
    with pytest.raises(RuntimeError, match="loss became nan at iteration 3"):
        training.train(tiny_manifest, "cnn", SETTINGS, 1, out, tmp_path / "log.csv", device="cpu")
    assert not out.exists()


def _losses(manifest, folder, model="cnn-DWP", **fast_paths):
    from regbench.train import train

    # a small learning rate: the runs stay close enough that only the path's rounding differs
    settings = SETTINGS | {"iterations": 4, "lr": 1e-5, "checkpoint_every": 100} | fast_paths
    train(manifest, model, settings, 1, folder / "model.pt", folder / "log.csv", "cpu", 1, data_workers=0)
    rows = (folder / "log.csv").read_text().splitlines()[1:]
    return np.array([float(row.split(",")[1]) for row in rows])


@pytest.mark.parametrize(
    ("fast_path", "tolerance", "model"),
    [
        ({"amp_dtype": "bfloat16"}, 2e-2, "cnn-DWP"),
        ({"channels_last": True}, 1e-5, "cnn-DWP"),
        # compiling the pyramid with its backward took 112 s of CI; the U-Net compiles the same way
        ({"compile": True}, 1e-4, "cnn"),
    ],
)
def test_a_fast_path_trains_as_the_default_path_does(tiny_manifest, tmp_path, fast_path, tolerance, model):
    """Each fast path changes how the same computation runs, not what it computes: over a few
    iterations its losses follow the float32, contiguous, eager path's within its rounding."""
    (tmp_path / "default").mkdir(), (tmp_path / "fast").mkdir()
    default = _losses(tiny_manifest, tmp_path / "default", model)
    fast = _losses(tiny_manifest, tmp_path / "fast", model, **fast_path)
    assert len(fast) == len(default) == 4
    np.testing.assert_allclose(fast, default, rtol=tolerance)
    if "amp_dtype" in fast_path:  # bfloat16 really ran: its rounding shows
        assert not np.array_equal(fast, default)


class _ZeroFlow(torch.nn.Module):
    """A network that registers nothing: its field is zero."""

    def predict(self, moving, fixed):
        return torch.zeros(fixed.shape[0], fixed.ndim - 2, *fixed.shape[2:])


def test_validation_scores_the_val_pairs_as_the_evaluation_would(tiny_manifest):
    from regbench.data.manifest import Manifest
    from regbench.evaluate import pair_metrics
    from regbench.losses import similarity_loss
    from regbench.validation import Validation, validation_pairs

    manifest = Manifest.load(tiny_manifest)
    val = manifest.split("val")
    assert validation_pairs(manifest, 4) == [(val[1], val[0]), (val[0], val[1])]
    assert validation_pairs(manifest, 1) == [(val[1], val[0])]
    similarity = similarity_loss("lncc", 2, 5)
    row = Validation(manifest, 4, similarity, torch.device("cpu"))(_ZeroFlow(), 7, None)
    iteration, pairs, measured_similarity, dice, folding = row.strip().split(",")
    # a zero field: the similarity of the images as they are, the Dice the evaluation gives them,
    # and no folding
    expected_dice, expected_similarity = [], []
    settings = {
        "protocol": "regbench",
        "nsd_tolerance_mm": 2.0,
        "intensity_metrics": [],
        "sdlogj": "textbook",
    }
    for fixed, moving in validation_pairs(manifest, 4):
        pair = {"id": "v", "fixed": fixed, "moving": moving}
        zero = np.zeros((2, *manifest.data["shape"]), np.float32)
        rows = pair_metrics(manifest, pair, zero, settings | {"jacobian_mask": "grid"})
        expected_dice.append(np.nanmean([value for _, metric, value in rows if metric == "dice"]))
        images = [torch.from_numpy(manifest.image(s))[None, None] for s in (moving, fixed)]
        expected_similarity.append(float(similarity(*images)))
    assert (int(iteration), int(pairs), float(folding)) == (7, 2, 0.0)
    assert float(dice) == pytest.approx(np.mean(expected_dice), abs=1e-6)
    assert float(measured_similarity) == pytest.approx(np.mean(expected_similarity), abs=1e-6)


def test_training_without_validation_subjects_logs_no_validation(tmp_path, tiny_manifest):
    from regbench.data import demo
    from regbench.train import train
    from tests.conftest import TINY_DATA

    no_val = demo.prepare(TINY_DATA | {"split": {"train": 3, "val": 0}}, 0, tmp_path / "data", "tiny")
    folder = tmp_path / "run"
    train(
        no_val, "cnn", SETTINGS | {"iterations": 2}, 1, folder / "model.pt", folder / "log.csv", "cpu", 1, 0
    )
    assert (folder / "val_log.csv").read_text() == "iteration,pairs,similarity,dice,folding_pct\n"


def test_a_snapshot_is_the_run_at_that_iteration_and_belongs_to_its_run(tiny_manifest, tmp_path):
    """The weights kept at iteration 20 of a 30-iteration run are those of a 20-iteration run
    (the learning rate follows the iteration, not the length); a snapshot of another run is refused."""
    from regbench import snapshots
    from regbench.train import train

    settings = SETTINGS | {"iterations": 30, "iterations_per_epoch": 10, "lr_decay": 0.9, "val_every": 0}
    cpu = torch.device("cpu")
    long, short = tmp_path / "long" / "model.pt", tmp_path / "short" / "model.pt"
    train(tiny_manifest, "cnn", settings, 1, long, long.with_name("log.csv"), "cpu", 1, 0, keep=(10, 20))
    train(
        tiny_manifest, "cnn", settings | {"iterations": 20}, 1, short, short.with_name("log.csv"), "cpu", 1, 0
    )
    assert sorted(p.name for p in long.with_name("snapshots").iterdir()) == ["iter10.pt", "iter20.pt"]
    kept, alone = snapshots.load(long, cpu, 20).state_dict(), snapshots.load(short, cpu).state_dict()
    assert all(torch.equal(kept[k], alone[k]) for k in kept)
    with pytest.raises(
        FileNotFoundError, match=r"did not keep iteration 15 \(kept: \[10, 20\]\).*--forcerun train"
    ):
        snapshots.load(long, cpu, 15)
    # a snapshot left by a run with other settings (a rerun with another lr killed after it)
    other = tmp_path / "other" / "model.pt"
    train(
        tiny_manifest,
        "cnn",
        settings | {"lr": 0.01},
        1,
        other,
        other.with_name("log.csv"),
        "cpu",
        1,
        0,
        keep=(10,),
    )
    (long.with_name("snapshots") / "iter10.pt").write_bytes(
        (other.with_name("snapshots") / "iter10.pt").read_bytes()
    )
    with pytest.raises(ValueError, match="kept by another training run"):
        snapshots.load(long, cpu, 10)
