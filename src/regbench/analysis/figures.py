"""Figures: per-pair Dice by method, and a qualitative panel of one pair."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

from regbench.analysis.tables import method_order  # noqa: E402
from regbench.data.manifest import Manifest  # noqa: E402
from regbench.io import atomic_path  # noqa: E402


def _save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format=Path(path).suffix[1:])
    plt.close(fig)


def dice_figure(pairs, path) -> None:
    """Box and strip plot of per-pair mean Dice, one box per method."""
    order = method_order(pairs["method"])
    fig, ax = plt.subplots(figsize=(1.2 * len(order) + 2, 4))
    sns.boxplot(data=pairs, x="method", y="dice", order=order, ax=ax, color="0.85", fliersize=0)
    sns.stripplot(data=pairs, x="method", y="dice", order=order, ax=ax, size=3, alpha=0.7)
    ax.set(xlabel="", ylabel="mean Dice per pair", title=f"Dice by method ({pairs['task'].iloc[0]})")
    ax.tick_params(axis="x", rotation=30)
    _save(fig, path)


def _middle_slice(array: np.ndarray) -> np.ndarray:
    return array if array.ndim == 2 else array[:, :, array.shape[2] // 2]


def _grid_lines(ax, disp: np.ndarray, step: int = 4) -> None:
    """Draw the deformed grid ``x + u(x)`` (in-plane components)."""
    # images are shown transposed (axis 0 horizontal), so plot axis-0 coordinates on x
    axis0, axis1 = np.meshgrid(np.arange(disp.shape[1]), np.arange(disp.shape[2]), indexing="ij")
    axis0, axis1 = axis0 + disp[0], axis1 + disp[1]
    for i in range(0, disp.shape[1], step):
        ax.plot(axis0[i, :], axis1[i, :], color="tab:red", lw=0.5)
    for j in range(0, disp.shape[2], step):
        ax.plot(axis0[:, j], axis1[:, j], color="tab:red", lw=0.5)


def qualitative_figure(manifest_path, preview_paths, path) -> None:
    """Fixed and moving images, then per method the warped image and the deformed grid."""
    manifest = Manifest.load(manifest_path)
    loaded = {}
    for preview in preview_paths:
        data = np.load(preview)
        loaded[str(data["method"])] = data
    methods = method_order(loaded)
    pair_id = str(loaded[methods[0]]["pair_id"])
    pair = next(p for p in manifest.pairs if p["id"] == pair_id)
    fixed, moving = manifest.image(pair["fixed"]), manifest.image(pair["moving"])
    fig, axes = plt.subplots(2, len(methods) + 1, figsize=(2.4 * (len(methods) + 1), 5))
    panels = [(axes[0, 0], fixed, f"fixed {pair['fixed']}"), (axes[1, 0], moving, f"moving {pair['moving']}")]
    for k, method in enumerate(methods, start=1):
        disp = loaded[method]["displacement"]
        if disp.shape[0] == 3:  # show the middle axial slice, in-plane components
            disp = disp[:2, :, :, disp.shape[3] // 2]
        panels.append((axes[0, k], loaded[method]["warped"], f"warped: {method}"))
        axes[1, k].imshow(np.zeros(disp.shape[1:]).T, cmap="gray", origin="lower")
        _grid_lines(axes[1, k], disp)
        axes[1, k].set_title(f"grid: {method}", fontsize=8)
    for ax, image, title in panels:
        ax.imshow(_middle_slice(image).T, cmap="gray", origin="lower")
        ax.set_title(title, fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle(f"{manifest.data['task']}: {pair_id}", fontsize=10)
    _save(fig, path)
