"""The hippocampus study end to end through Snakemake, from the MSD tar in ../shared/data
(URL and checksum overridden: no internet)."""

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
    # (the other baselines run end to end in the tiny study and on 3D pairs in test_baselines)
    config |= {"models": ["cnn"], "baselines": ["identity", "ants"], "data_root": str(data_root)}
    config["device"] = "cpu"
    configfile = tmp_path / "hippocampus.yaml"
    configfile.write_text(yaml.safe_dump(config))
    snakemake(tmp_path, "--configfile", str(configfile))
    assert (data_root / "hippocampus/regbench-verified.json").exists()
    assert not list(tmp_path.rglob("injected"))
    table = pd.read_csv(tmp_path / "results/hippocampus/tables/summary.csv").set_index("method")
    assert list(table.index) == ["identity", "ants", "cnn"] and table["pairs"].eq(4).all()
    assert table.loc["ants", "dice_mean"] > table.loc["identity", "dice_mean"] > 0.2
    manifest = Manifest.load(tmp_path / "results/hippocampus/data/manifest.json")
    assert len(manifest.data["subjects"]) == 12 and manifest.labels == {1: "anterior", 2: "posterior"}
    subject = manifest.split("test")[0]
    image, labels = manifest.image(subject), manifest.label_map(subject)
    assert image.shape == (48, 64, 48) and image.min() == 0 and image.max() == 1
    assert set(np.unique(labels)) == {0, 1, 2}
