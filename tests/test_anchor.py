"""Regression anchor: identity and ANTs on a slice of the real hippocampus data, against stored
numbers, so that a change which moves the benchmark's numbers (preprocessing, warping, metrics,
the ANTs call) is seen.

The slice: the first 5 labelled MSD cases (3 test subjects, 3 pairs) prepared as
config/hippocampus.yaml does (RAS, 1 mm, 48 × 64 × 48), ANTs SyNOnly with CC at 20 × 10
iterations (seconds per pair), scored with the default protocol.

Tolerances: identity involves no optimisation, so its numbers may move only by float rounding
(relative 1e-6). ANTs runs single-threaded with a fixed seed, which is bit-reproducible on one
machine; on another processor or antspyx build the floating-point order of the optimisation can
differ, so its numbers get an absolute margin far below the effect a change of method or metric
makes (identity → ANTs moves Dice by 0.2): 0.01 for Dice and NSD, 0.15 mm for HD95 and ASSD,
0.01 for SDlogJ. The stored values were produced by this test's own code (regbench 0.1.0,
antspyx 0.6.1).
"""

import tarfile

import numpy as np
import pytest

from regbench.baselines.ants import register_pair
from regbench.data import hippocampus
from regbench.data.manifest import Manifest
from regbench.evaluate import pair_metrics
from tests.conftest import REPO

TAR = REPO.parent / "shared/data/msd_hippocampus/Task04_Hippocampus.tar"
DATA = {
    "source": "hippocampus",
    "dims": 3,
    "shape": [48, 64, 48],
    "spacing": [1, 1, 1],
    "axcodes": "RAS",
    "subjects": 5,
    "split": {"train": 2, "val": 0},
    "test_pairs": 3,
}
EVALUATION = {
    "protocol": "regbench",
    "nsd_tolerance_mm": 1.0,
    "sdlogj": "textbook",
    "jacobian_mask": "foreground",
    "intensity_metrics": [],
}
ANTS = {
    "type_of_transform": "SyNOnly",
    "reg_iterations": [20, 10],
    "metric": "CC",
    "metric_radius": 2,
    "grad_step": 0.2,
    "flow_sigma": 3,
    "total_sigma": 0,
}
METRICS = ("dice", "hd95", "assd", "nsd", "sdlogj", "nonpositive_jacobian_pct")
#: mean over the 3 pairs and 2 labels
STORED = {
    "identity": {
        "dice": 0.557779,
        "hd95": 3.348413,
        "assd": 1.464153,
        "nsd": 0.508479,
        "sdlogj": 0.0,
        "nonpositive_jacobian_pct": 0.0,
    },
    "ants": {
        "dice": 0.799866,
        "hd95": 2.201793,
        "assd": 0.776450,
        "nsd": 0.828541,
        "sdlogj": 0.312168,
        "nonpositive_jacobian_pct": 0.0,
    },
}
MARGIN = {
    "dice": 0.01,
    "nsd": 0.01,
    "hd95": 0.15,
    "assd": 0.15,
    "sdlogj": 0.01,
    "nonpositive_jacobian_pct": 0.05,
}


def scores(tmp_path) -> dict[str, dict[str, float]]:
    with tarfile.open(TAR) as archive:
        archive.extractall(tmp_path / "source", filter="data")
    path = hippocampus.prepare(
        "hippocampus", DATA, 0, tmp_path / "data", "anchor", tmp_path / "source", False
    )
    manifest = Manifest.load(path)
    out = {}
    for method in STORED:
        rows = []
        for pair in manifest.pairs:
            fixed, moving = manifest.image(pair["fixed"]), manifest.image(pair["moving"])
            if method == "ants":
                disp = register_pair(fixed, moving, manifest.spacing, ANTS, seed=0)
            else:
                disp = np.zeros((3, *fixed.shape), np.float32)
            rows += pair_metrics(manifest, pair, disp, EVALUATION)
        out[method] = {m: float(np.mean([v for _, name, v in rows if name == m])) for m in METRICS}
    return out


@pytest.mark.slow
@pytest.mark.skipif(not TAR.exists(), reason=f"{TAR} absent (../shared/data is not beside this checkout)")
def test_identity_and_ants_on_real_hippocampus_pairs_keep_their_numbers(tmp_path):
    measured = scores(tmp_path)
    for metric in METRICS:
        assert measured["identity"][metric] == pytest.approx(STORED["identity"][metric], rel=1e-6, abs=1e-9)
        assert measured["ants"][metric] == pytest.approx(STORED["ants"][metric], abs=MARGIN[metric]), metric
    assert measured["ants"]["dice"] > measured["identity"]["dice"] + 0.1
