"""Seconds and peak memory per pair of every method that registers without training (a
benchmark, not a test), side by side in one run.

    python bench/baselines.py                        # the hippocampus grid, 48×64×48
    python bench/baselines.py --size 160 192 224     # a brain-size pair
    python bench/baselines.py --methods ants convexadam --device cuda
    python bench/baselines.py --set unigradicon.weights=w.trch unigradicon.io_iterations=0

Every method registers the same synthetic pair (a smooth random image, and the same image
under a smooth known deformation of a few voxels) with the settings the config schema gives it
by default, each in a fresh process (so that its peak resident memory on the CPU, or peak
allocated GPU memory, is its own), after a first registration of a small pair that pays its
start-up (imports, lazy loading, network weights: once per job in the pipeline). The mean
endpoint error against the known deformation is printed beside the cost. The last line reads
``size=<a×b×c> methods=<m,...> seconds=<s,...> peak_mb=<mb,...>``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def schema_defaults(name: str) -> dict:
    """A method's task settings as its record's schema fills them in (``{}`` where it has none)."""
    from regbench import registry
    from regbench.config import check_method_settings

    return check_method_settings(registry.method(name), {}, name)


def synthetic_pair(shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """fixed, moving and the true displacement (voxels, into the moving image)."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    fixed = ndimage.gaussian_filter(rng.random(shape), 3)
    fixed = ((fixed - fixed.min()) / (fixed.max() - fixed.min())).astype(np.float32)
    smooth = [ndimage.gaussian_filter(rng.normal(size=shape), 8) for _ in shape]
    truth = np.stack([3 * c / np.abs(c).max() for c in smooth]).astype(np.float32)  # up to 3 voxels
    grid = np.indices(shape, dtype=np.float32)
    moving = ndimage.map_coordinates(fixed, grid - truth, order=3, mode="nearest")  # approx. inverse
    return fixed, moving.astype(np.float32), truth


def overrides(assignments: list[str], method: str) -> dict:
    """``--set method.key=value`` (value read as YAML) for one method."""
    changes = {}
    for assignment in assignments:
        target, value = assignment.split("=", 1) if "=" in assignment else (assignment, "")
        name, key = target.split(".", 1) if "." in target else (target, "")
        if not key or "=" not in assignment:
            raise SystemExit(f"--set {assignment!r}: expected method.key=value")
        if name == method:
            changes[key] = yaml.safe_load(value)
    return changes


def run_one(method: str, shape, device: str, changes: dict) -> dict:
    """In this process: register the pair with ``method``; its costs and endpoint error."""
    import torch

    from regbench import registry
    from regbench.device import measure

    record = registry.method(method)
    register_pair = registry.resolve(record.register, f"method {method!r}")
    settings = schema_defaults(method) | changes
    if "device" in settings:
        settings["device"] = device
    # a first registration on a small pair pays the start-up (imports, lazy loading, weights),
    # which the pipeline pays once per job, not per pair
    register_pair(*synthetic_pair((32,) * len(shape))[:2], (1.0,) * len(shape), settings, 0)
    fixed, moving, truth = synthetic_pair(shape)
    with measure(torch.device(device if "device" in settings else "cpu")) as costs:
        disp = register_pair(fixed, moving, (1.0,) * len(shape), settings, 0)
    costs["epe_voxels"] = float(np.linalg.norm(disp - truth, axis=0).mean())
    return costs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, nargs="+", default=[48, 64, 48])
    p.add_argument("--methods", nargs="+", help="default: every registered method without training")
    p.add_argument("--device", default="cpu", help="for the methods that have a device setting")
    p.add_argument("--set", nargs="+", default=[], metavar="METHOD.KEY=VALUE", help="a method's setting")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(run_one(a.child, tuple(a.size), a.device, overrides(a.set, a.child))))
        return
    from regbench import registry

    methods = a.methods or list(registry.methods())
    size = "×".join(map(str, a.size))
    print(f"{'method':<12} {'seconds':>9} {'peak MB':>9} {'EPE (voxels)':>13}   pair {size}")
    results = {}
    for method in methods:
        dims = registry.method(method).dims
        if len(a.size) not in dims:
            print(f"{method:<12} left out: it registers {'/'.join(map(str, dims))}D images")
            continue
        cmd = [sys.executable, __file__, "--child", method, "--device", a.device, "--size", *map(str, a.size)]
        cmd += ["--set", *a.set] if a.set else []
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            print(f"{method:<12} failed: {done.stderr.strip().splitlines()[-1]}")
            continue
        results[method] = json.loads(done.stdout.strip().splitlines()[-1])
        r = results[method]
        print(f"{method:<12} {r['runtime_s']:>9.2f} {r['peak_memory_mb']:>9.0f} {r['epe_voxels']:>13.2f}")
    seconds = ",".join(f"{r['runtime_s']:.2f}" for r in results.values())
    peaks = ",".join(f"{r['peak_memory_mb']:.0f}" for r in results.values())
    print(f"size={size} methods={','.join(results)} seconds={seconds} peak_mb={peaks}")


if __name__ == "__main__":
    main()
