"""Make the fixtures of tests/test_reference.py from the reference networks of rethink-reg, run out
of tree (see README.md beside this file). Nothing of the reference is copied: its networks are
built from its own task configs, loaded with regbench's seeded weights, run on the seeded inputs,
and a sample of their outputs is saved.

    PYTHONPATH=/path/to/refenv MAMBA_SSM_SOURCE=/path/to/mamba \
        .venv/bin/python tools/reference/generate.py --rethink-reg /path/to/rethink-reg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE / "stubs"), str(HERE.parents[1])]

from tests import reference_cases as cases  # noqa: E402


def on_cpu(node, grid):
    """The config with every ``image_size`` set to the grid the networks are compared on, and the
    correlation's CUDA kernel (``corr_mode: cuda``) replaced by the reference's own PyTorch loop
    over offsets, which computes the same volume."""
    if isinstance(node, dict):
        replaced = {"image_size": list(grid), "corr_mode": "for"}
        return {k: replaced[k] if k in replaced else on_cpu(v, grid) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(on_cpu(v, grid) for v in node)
    return node


def reference_network(repo: Path, task: str, preset: str, grid):
    from mmengine import Config, ConfigDict
    from models import build_flow_estimator

    path = repo / "tasks" / cases.TASKS[task] / "configs" / f"{cases.REFERENCE_CONFIGS[preset]}.py"
    model_cfg = on_cpu(Config.fromfile(str(path)).model_cfg.to_dict(), grid)
    return build_flow_estimator(ConfigDict(model_cfg)).to(cases.DTYPE).eval(), path


def uncalled_users(module: torch.nn.Module, prefix: str, called: list[str]) -> list[str]:
    """The modules with weights under ``module`` that the pass reached without calling them:
    through containers that are iterated rather than called (lists, sequences), down to the first
    module that owns tensors."""
    found = []
    for name, child in module.named_children():
        if prefix + name in called:
            continue
        if next(child.parameters(recurse=False), None) is not None:
            found.append(prefix + name)
        else:
            found += uncalled_users(child, f"{prefix}{name}.", called)
    return found


def execution_order(model: torch.nn.Module, *inputs) -> list[tuple[str, torch.nn.Parameter]]:
    """The model's parameters in the order a forward pass first calls their modules, each module's
    own tensors in registration order: the two codes register some modules in another order than
    they call them. A module that uses a child's weights without calling the child (mamba-ssm's
    projections) gives its whole subtree in registration order."""
    order: list[str] = []
    names = {module: name for name, module in model.named_modules()}
    hooks = [
        m.register_forward_pre_hook(lambda m, _: order.append(names[m]) if names[m] not in order else None)
        for m in model.modules()
    ]
    with torch.no_grad():
        model(*inputs)
    for hook in hooks:
        hook.remove()
    modules = dict(model.named_modules())
    found, taken = [], set()
    for name in order:
        if name in taken:
            continue
        module, prefix = modules[name], f"{name}." if name else ""
        uncalled = uncalled_users(module, prefix, order)
        if name and uncalled:
            found += [(prefix + n, p) for n, p in module.named_parameters()]
            taken |= {prefix + n for n, _ in module.named_modules()}
        else:
            found += [(prefix + n, p) for n, p in module.named_parameters(recurse=False)]
    unused = {n for n, _ in model.named_parameters()} - {n for n, _ in found}
    if unused:
        raise SystemExit(f"parameters the forward pass does not reach: {sorted(unused)[:5]}")
    return found


def per_entry(tensors: list, count: int) -> list:
    """Vectors of ``count`` entries split into their scalars: VFA's per-level temperatures are one
    vector here, one scalar per level in the reference."""
    split = []
    for name, p in tensors:
        split += [(f"{name}[{i}]", e) for i, e in enumerate(p)] if p.shape == (count,) else [(name, p)]
    return split


def load_weights(ours, reference, inputs, what: str) -> None:
    """Copy regbench's parameters into the reference network, matched in the order the forward
    passes use them: each of ours goes to the first unmatched reference tensor of its shape (the
    codes apply some independent layers in another order: a stage's output norm and its patch
    merging, the convolutional skips and the transformer). Comparing the outputs checks the match."""
    mine, theirs = execution_order(ours, *inputs), execution_order(reference, *inputs)
    scalars = sum(q.ndim == 0 for _, q in theirs)
    if scalars and not any(p.ndim == 0 for _, p in mine):
        mine = per_entry(mine, scalars)
    with torch.no_grad():
        for name, p in mine:
            ahead = [i for i, (_, q) in enumerate(theirs) if q.shape == p.shape]
            if not ahead:
                ref_name, q = theirs[0]
                raise SystemExit(f"{what}: {name} {tuple(p.shape)} against {ref_name} {tuple(q.shape)}")
            theirs.pop(ahead[0])[1].copy_(p)
    if theirs:
        raise SystemExit(f"{what}: reference tensors left without a match: {[n for n, _ in theirs][:5]}")


def networks(repo: Path, config: dict, task: str) -> dict:
    grid = cases.network_grid(config, task)
    source, target = cases.images(grid)
    saved = {"grid": np.array(grid)}
    for preset in cases.REFERENCE_CONFIGS:
        ours = cases.seeded_network(config, task, preset)
        reference, path = reference_network(repo, task, preset, grid)
        load_weights(ours, reference, (source, target), f"{task} {preset} ({path.name})")
        with torch.no_grad():
            mine = cases.final_flow(ours(source, target))
            theirs = cases.final_flow(reference(source, target))
        if mine.shape != theirs.shape:
            raise SystemExit(f"{task} {preset}: flow {tuple(mine.shape)} against {tuple(theirs.shape)}")
        rms = float(theirs.square().mean().sqrt())
        print(f"{task:<13} {preset:<11} flow rms {rms:7.3f}  gap {cases.gap(mine, theirs):.2e}")
        saved[f"{preset}/flow"] = cases.sample(theirs)
        saved[f"{preset}/weights"] = cases.weight_signature(ours)
    return saved


def swin_stages(repo: Path, config: dict, task: str) -> dict:
    """The Swin encoders' stage outputs at the task's real size: the weights are matched on the
    whole networks at the reduced grid, then only the encoders run at full size."""
    saved = {}
    grid = cases.network_grid(config, task)
    for preset in cases.SWIN_ENCODERS:
        ours = cases.seeded_network(config, task, preset)
        reference, path = reference_network(repo, task, preset, grid)
        load_weights(ours, reference, cases.images(grid), f"{task} {preset} ({path.name})")
        image = cases.encoder_input(ours, cases.task_grid(config, task))
        with torch.no_grad():
            mine, theirs = cases.swin_features(ours, image), reference.transformer.float()(image.float())
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            print(f"{task:<13} {preset:<11} stage {i + 1} {tuple(b.shape[2:])}  gap {cases.gap(a, b):.2e}")
            saved[f"{preset}/stage{i + 1}"] = cases.sample(b)
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rethink-reg", type=Path, required=True, help="a checkout of BailiangJ/rethink-reg")
    parser.add_argument("--tasks", nargs="+", default=list(cases.TASKS))
    parser.add_argument("--out", type=Path, default=cases.FIXTURES)
    args = parser.parse_args()
    sys.path.insert(0, str(args.rethink_reg))
    config = cases.paper_config()
    args.out.mkdir(parents=True, exist_ok=True)
    for task in args.tasks:
        saved = networks(args.rethink_reg, config, task)
        if len(cases.task_grid(config, task)) == 3:
            saved |= swin_stages(args.rethink_reg, config, task)
        np.savez(args.out / f"{task}.npz", **saved)


if __name__ == "__main__":
    main()
