"""The hippocampus study end to end through Snakemake, from the MSD tar in ../shared/data
(URL and checksum overridden: no internet)."""

import importlib.util

import numpy as np
import pandas as pd
import pytest
import yaml

from regbench.data.manifest import Manifest
from tests.conftest import REPO, snakemake

pytestmark = pytest.mark.integration

TAR = REPO.parent / "shared/data/msd_hippocampus/Task04_Hippocampus.tar"
SHA256 = "bc7fd3c8c8a67b38ca59217d6af45a4e9461ec56c0cbd4c2b5c51b26386e894a"


@pytest.mark.skipif(not TAR.exists(), reason=f"{TAR} absent (../shared/data is not beside this checkout)")
def test_hippocampus_study_runs_from_the_msd_tar(tmp_path):
    config = yaml.safe_load((REPO / "config/hippocampus.yaml").read_text())
    task = config["task_settings"]["hippocampus"]
    task["data"] |= {"url": TAR.as_uri(), "sha256": SHA256, "subjects": 12, "test_pairs": 4}
    task["data"]["split"] = {"train": 8, "val": 0}
    task["training"] |= {"iterations": 4, "batch_size": 1, "checkpoint_every": 2}
    task["ants"]["reg_iterations"] = [5]
    task["stress"]["modes"] = []  # the stress sets are tested on the demo study
    # a data root with a space and shell syntax: passed to the jobs as one word, never run
    data_root = tmp_path / "my data $(touch injected)"
    # the other baselines run end to end in the tiny study (2D) and on 3D pairs in test_baselines;
    # uniGradICON registers 3D only, so it runs here, at its smallest grid, with weights the test
    # makes: the published architecture with a zero field
    baselines = ["identity", "ants"]
    if importlib.util.find_spec("unigradicon"):
        baselines.append("unigradicon")
        task["unigradicon"] = {"weights": str(zero_field_weights(tmp_path)), "grid": 132, "io_iterations": 0}
    config |= {"models": ["cnn"], "baselines": baselines, "data_root": str(data_root)}
    config["device"] = "cpu"
    configfile = tmp_path / "hippocampus.yaml"
    configfile.write_text(yaml.safe_dump(config))
    snakemake(tmp_path, "--configfile", str(configfile))
    assert (data_root / "hippocampus/regbench-verified.json").exists()
    assert not list(tmp_path.rglob("injected"))
    table = pd.read_csv(tmp_path / "results/hippocampus/tables/summary.csv").set_index("method")
    assert list(table.index) == [*baselines, "cnn"] and table["pairs"].eq(4).all()
    assert table.loc["ants", "dice_mean"] > table.loc["identity", "dice_mean"] > 0.2
    if "unigradicon" in baselines:  # a zero field, through the package's transform and our sampling
        identity, network = table.loc["identity"], table.loc["unigradicon"]
        assert network["dice_mean"] == pytest.approx(identity["dice_mean"], abs=1e-4)
        assert (
            network["runtime_s_mean"] > 1 and network["peak_memory_mb_mean"] > identity["peak_memory_mb_mean"]
        )
    manifest = Manifest.load(tmp_path / "results/hippocampus/data/manifest.json")
    assert len(manifest.data["subjects"]) == 12 and manifest.labels == {1: "anterior", 2: "posterior"}
    subject = manifest.split("test")[0]
    image, labels = manifest.image(subject), manifest.label_map(subject)
    assert image.shape == (48, 64, 48) and image.min() == 0 and image.max() == 1
    assert set(np.unique(labels)) == {0, 1, 2}


def zero_field_weights(folder):
    """A weights file for uniGradICON's network at its smallest grid whose field is zero: the
    package initialises each step's last convolution with zero weights; its bias is zeroed here."""
    import torch
    import unigradicon

    state = unigradicon.make_network([1, 1, 132, 132, 132], include_last_step=True).regis_net.state_dict()
    biases = [key for key in state if key.endswith("lastConv.bias")]
    assert biases, "uniGradICON's network has no lastConv: this test needs another way to a zero field"
    for key in biases:
        state[key].zero_()
    torch.save(state, folder / "unigradicon-zero-field.trch")
    return folder / "unigradicon-zero-field.trch"
