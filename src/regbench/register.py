"""Apply a method to every evaluation pair of a manifest and save the displacement fields.

Methods: ``identity`` (zero displacement), ``ants`` (SyN, :mod:`regbench.baselines.ants`) and any
trained model file. Each field is the displacement on the fixed grid, in voxels, that warps the
moving image onto the fixed one. Runtimes are per pair (network: forward pass and upsampling,
GPU-synchronised; ANTs: registration plus field composition).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from regbench import device as devices
from regbench.baselines import ants
from regbench.data.manifest import Manifest
from regbench.io import save_fields
from regbench.train import load_model


def _each_pair(manifest: Manifest, desc: str):
    for pair in tqdm(manifest.pairs, desc=desc, unit="pair", mininterval=2.0):
        yield pair, manifest.image(pair["fixed"]), manifest.image(pair["moving"])


def register_identity(manifest_path: str | Path, out: str | Path) -> None:
    manifest = Manifest.load(manifest_path)
    shape = [manifest.ndim, *manifest.data["shape"]]
    fields = {p["id"]: np.zeros(shape, np.float32) for p in manifest.pairs}
    save_fields(out, fields, {p["id"]: 0.0 for p in manifest.pairs})


def register_ants(manifest_path: str | Path, settings: dict, seed: int, out: str | Path) -> None:
    manifest = Manifest.load(manifest_path)
    fields, runtimes = {}, {}
    for pair, fixed, moving in _each_pair(manifest, "ANTs"):
        fields[pair["id"]], runtimes[pair["id"]] = ants.register_pair(
            fixed, moving, manifest.spacing, settings, seed
        )
    save_fields(out, fields, runtimes)


@torch.no_grad()
def register_model(
    manifest_path: str | Path,
    model_path: str | Path,
    out: str | Path,
    device: str = "auto",
    threads: int | None = None,
) -> None:
    manifest = Manifest.load(manifest_path)
    dev = devices.select(device, threads)
    model = load_model(model_path, dev)
    fields, runtimes = {}, {}
    for pair, fixed, moving in _each_pair(manifest, "register"):
        f = torch.from_numpy(fixed)[None, None].to(dev)
        m = torch.from_numpy(moving)[None, None].to(dev)
        devices.synchronize(dev)
        tick = time.perf_counter()
        disp = model.predict(m, f)
        devices.synchronize(dev)
        runtimes[pair["id"]] = time.perf_counter() - tick
        fields[pair["id"]] = disp[0].cpu().numpy()
    save_fields(out, fields, runtimes)
