import subprocess
import sys
import time

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

    rerun = subprocess.run(train_cmd(tiny_manifest, resumed), check=True, capture_output=True, text=True)
    assert "resuming cnn-DWP" in rerun.stdout
    assert not checkpoint.exists()
    a = torch.load(reference, weights_only=False)["state_dict"]
    b = torch.load(resumed, weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    iterations = [
        int(line.split(",")[0]) for line in resumed.with_name("log.csv").read_text().splitlines()[1:]
    ]
    assert iterations[-1] == 60 and len(set(iterations)) == 60


def test_checkpoint_from_other_settings_is_ignored(tiny_manifest, tmp_path):
    out = tmp_path / "model.pt"
    torch.save({"fingerprint": "other", "iteration": 30}, out.with_name("checkpoint.pt"))
    done = subprocess.run(train_cmd(tiny_manifest, out), check=True, capture_output=True, text=True)
    assert "ignoring" in done.stdout and out.exists()
