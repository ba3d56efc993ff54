"""Equivalence with the reference networks of rethink-reg (BailiangJ/rethink-reg): every preset,
as each task of ``config/paper.yaml`` builds it, computes the reference's flow from the same
weights and inputs, and the Swin encoders the reference's stage outputs at each 3D task's real
size. The fixtures hold a sample of the reference's outputs, made by ``tools/reference/generate.py``
(``tools/reference/README.md`` says how to make them again)."""

import numpy as np
import pytest
import torch

from regbench.models.mamba import ChannelNorm
from tests import reference_cases as cases

#: largest difference allowed, relative to the largest reference value, in float64: measured at
#: most 6e-14, except 2e-8 to 4e-8 for the Mamba presets (mamba-ssm's reference scan computes in
#: float32 whatever its input)
TOLERANCE = 1e-6
#: the same for the Swin stages at the real sizes, which run in float32 (measured: bit-identical)
STAGE_TOLERANCE = 1e-5
CONFIG = cases.paper_config()
REGENERATE = "see tools/reference/README.md to make the fixtures again"
_flows: dict = {}


def stored(task: str) -> dict:
    path = cases.FIXTURES / f"{task}.npz"
    with np.load(path) as data:
        return dict(data)


def check_weights(model, fixture: dict, preset: str, what: str) -> None:
    assert np.allclose(cases.weight_signature(model), fixture[f"{preset}/weights"], rtol=1e-5), (
        f"{what}: the seeded weights differ from those the fixture was made with (initialisation "
        f"or parameter order changed), so the comparison would mean nothing; {REGENERATE}"
    )


def sampled_flow(model, task: str) -> np.ndarray:
    with torch.no_grad():
        return cases.sample(cases.final_flow(model(*cases.images(cases.network_grid(CONFIG, task)))))


def our_flow(task: str, preset: str, fixture: dict) -> np.ndarray:
    """The sampled flow, computed once per preset, grid and architecture settings (tasks that
    build a preset alike share it)."""
    key = (preset, cases.network_grid(CONFIG, task), repr(cases.settings(CONFIG, task, preset)))
    model = cases.seeded_network(CONFIG, task, preset)
    check_weights(model, fixture, preset, f"{task} {preset}")
    if key not in _flows:
        _flows[key] = sampled_flow(model, task)
    return _flows[key]


@pytest.mark.parametrize("preset", cases.REFERENCE_CONFIGS)
@pytest.mark.parametrize("task", cases.TASKS)
def test_every_preset_computes_the_reference_flow_on_every_task(task, preset):
    fixture = stored(task)
    assert tuple(fixture["grid"]) == cases.network_grid(CONFIG, task), REGENERATE
    difference = cases.gap(our_flow(task, preset, fixture), fixture[f"{preset}/flow"])
    assert difference <= TOLERANCE, f"{task} {preset}: flow differs from the reference by {difference:.2e}"


@pytest.mark.parametrize("task", [t for t in cases.TASKS if len(cases.task_grid(CONFIG, t)) == 3])
def test_swin_stages_equal_the_reference_at_the_task_size(task):
    fixture = stored(task)
    for preset in cases.SWIN_ENCODERS:
        model = cases.seeded_network(CONFIG, task, preset)
        check_weights(model, fixture, preset, f"{task} {preset}")
        image = cases.encoder_input(model, cases.task_grid(CONFIG, task))
        with torch.no_grad():
            stages = cases.swin_features(model, image)
        for i, stage in enumerate(stages, 1):
            difference = cases.gap(cases.sample(stage), fixture[f"{preset}/stage{i}"])
            assert difference <= STAGE_TOLERANCE, f"{task} {preset} stage {i}: differs by {difference:.2e}"


def channel_norm_eps(eps):
    def change(model):
        for module in model.modules():
            if isinstance(module, ChannelNorm):
                module.eps = eps

    return change


def plain_correlation(model):
    model.decoder.normalise = False


@pytest.mark.parametrize(
    "task,preset,change",
    [
        ("abdomen_mrct", "TM-DWCP", plain_correlation),  # the task's reference normalises
        ("cardiac", "Mam-VXM", channel_norm_eps(1e-5)),  # the reference's ε is 1e-6
    ],
)
def test_the_comparison_tells_a_network_that_computes_otherwise(task, preset, change):
    model = cases.seeded_network(CONFIG, task, preset)
    change(model)
    assert cases.gap(sampled_flow(model, task), stored(task)[f"{preset}/flow"]) > 10 * TOLERANCE
