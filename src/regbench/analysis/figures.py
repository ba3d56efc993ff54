"""Figures of one task, each as PNG and PDF: per-metric box/strip plots, the backbone × design
heatmap of relative improvement, accuracy against cost, a qualitative panel of one pair, and the
training and validation curves of the task's networks."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from regbench.analysis import METRICS  # noqa: E402
from regbench.analysis.tables import GROUPS, method_order  # noqa: E402
from regbench.data.manifest import Manifest  # noqa: E402
from regbench.io import atomic_path  # noqa: E402
from regbench.metrics import jacobian_determinant  # noqa: E402
from regbench.names import DESIGN_SETS, parse  # noqa: E402


def save(fig, path) -> None:
    """Write ``path`` (PNG) and the same figure as PDF beside it, atomically."""
    for target in (Path(path), Path(path).with_suffix(".pdf")):
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=target.suffix[1:])
    plt.close(fig)


def metrics_figure(pairs: pd.DataFrame, path, baseline: str) -> None:
    """One box (quartiles) and strip (pairs) panel per metric, one box per method."""
    order = method_order(pairs["method"], baseline)
    metrics = [m for m in METRICS if m in pairs and pairs[m].notna().any()]
    columns = min(3, len(metrics))
    rows = -(-len(metrics) // columns)
    size = (columns * (0.7 * len(order) + 2), 3.2 * rows)
    fig, axes = plt.subplots(rows, columns, figsize=size, squeeze=False)
    for ax, metric in zip(axes.ravel(), metrics):
        sns.boxplot(data=pairs, x="method", y=metric, order=order, ax=ax, color="0.85", fliersize=0)
        sns.stripplot(data=pairs, x="method", y=metric, order=order, ax=ax, size=2.5, alpha=0.7)
        arrow = "↑" if METRICS[metric].direction > 0 else "↓"
        ax.set(xlabel="", ylabel="", title=f"{METRICS[metric].title} {arrow}")
        ax.tick_params(axis="x", rotation=45, labelsize=7)
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_axis_off()
    fig.suptitle(f"{pairs['task'].iloc[0]}: per-pair values by method")
    fig.tight_layout()
    save(fig, path)


def heatmap_figure(comparison: pd.DataFrame, metric: str, path, baseline: str) -> None:
    """Relative improvement (%) of ``metric`` over the baseline, backbones × design sets."""
    cells = {}
    for _, row in comparison[comparison["metric"] == metric].iterrows():
        try:
            spec = parse(row["method"])
        except ValueError:
            continue  # identity, ants
        cells[(spec.backbone, spec.designs or "none")] = row["improvement_pct"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if cells:
        grid = pd.Series(cells).unstack()
        designs = [d or "none" for d in DESIGN_SETS if (d or "none") in grid.columns]
        grid = grid[designs + [c for c in grid.columns if c not in designs]]
        limit = np.nanmax(np.abs(grid.to_numpy())) or 1.0
        sns.heatmap(
            grid,
            annot=True,
            fmt=".1f",
            cmap="RdBu",
            center=0,
            vmin=-limit,
            vmax=limit,
            ax=ax,
            cbar_kws={"label": f"relative improvement over {baseline} (%)"},
        )
    else:
        ax.text(0.5, 0.5, f"{baseline} not in the study: no comparison", ha="center", va="center")
    task = comparison["task"].iloc[0] if not comparison.empty else ""
    ax.set(xlabel="designs", ylabel="backbone", title=f"{task}: {METRICS[metric].title}, better is positive")
    save(fig, path)


def cost_figure(table: pd.DataFrame, parameters: dict[str, int], metric: str, path) -> None:
    """Mean ``metric`` against parameter count and against runtime per pair, one point per method."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    data = table.assign(parameters=table["method"].map(parameters))
    panels = ((axes[0], "parameters", "parameters"), (axes[1], "runtime_s_mean", "runtime per pair (s)"))
    for ax, x, label in panels:
        shown = data.dropna(subset=[x, f"{metric}_mean"])
        shown = shown[shown[x] > 0]
        palette = dict(zip(GROUPS, sns.color_palette("tab10")))  # same colour per group in both panels
        sns.scatterplot(data=shown, x=x, y=f"{metric}_mean", hue="group", palette=palette, ax=ax, s=40)
        for _, row in shown.iterrows():
            ax.annotate(
                row["method"],
                (row[x], row[f"{metric}_mean"]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.set(xscale="log", xlabel=label, ylabel=f"mean {METRICS[metric].title}")
        if ax.get_legend():
            ax.get_legend().set_title("")
    fig.suptitle(f"{table['task'].iloc[0]}: accuracy against cost")
    fig.tight_layout()
    save(fig, path)


def _middle_slice(array: np.ndarray) -> np.ndarray:
    return array if array.ndim == 2 else array[:, :, array.shape[2] // 2]


def _in_plane(disp: np.ndarray) -> np.ndarray:
    """The displacement's in-plane components on the middle axial slice (2D: itself)."""
    return disp if disp.shape[0] == 2 else disp[:2, :, :, disp.shape[3] // 2]


def _grid_lines(ax, disp: np.ndarray, step: int = 4) -> None:
    """Draw the deformed grid ``x + u(x)`` (in-plane components)."""
    # images are shown transposed (axis 0 horizontal), so plot axis-0 coordinates on x
    axis0, axis1 = np.meshgrid(np.arange(disp.shape[1]), np.arange(disp.shape[2]), indexing="ij")
    axis0, axis1 = axis0 + disp[0], axis1 + disp[1]
    for i in range(0, disp.shape[1], step):
        ax.plot(axis0[i, :], axis1[i, :], color="tab:red", lw=0.5)
    for j in range(0, disp.shape[2], step):
        ax.plot(axis0[:, j], axis1[:, j], color="tab:red", lw=0.5)


def qualitative_figure(manifest_path, preview_paths, path, baseline: str) -> None:
    """One test pair. First column: fixed and moving images with their label contours. Then per
    method: the warped image with the warped labels' contours over the fixed labels (filled), the
    deformed grid, and the Jacobian determinant (non-positive in black)."""
    from regbench.evaluate import warp_array

    manifest = Manifest.load(manifest_path)
    loaded = {}
    for preview in preview_paths:
        data = np.load(preview)
        loaded[str(data["method"])] = data
    methods = method_order(loaded, baseline)
    pair_id = str(loaded[methods[0]]["pair_id"])
    pair = next(p for p in manifest.pairs if p["id"] == pair_id)
    fixed, moving = manifest.image(pair["fixed"]), manifest.image(pair["moving"])
    fixed_labels, moving_labels = manifest.label_map(pair["fixed"]), manifest.label_map(pair["moving"])
    levels = np.arange(0.5, max(manifest.labels) + 1)
    fig, axes = plt.subplots(3, len(methods) + 1, figsize=(2.4 * (len(methods) + 1), 7.4), squeeze=False)
    jac_image = None
    for row, (image, labels, title) in enumerate(
        [(fixed, fixed_labels, f"fixed {pair['fixed']}"), (moving, moving_labels, f"moving {pair['moving']}")]
    ):
        axes[row, 0].imshow(_middle_slice(image).T, cmap="gray", origin="lower")
        axes[row, 0].contour(_middle_slice(labels).T, levels=levels, linewidths=0.4, cmap="tab10")
        axes[row, 0].set_title(title, fontsize=8)
    for k, method in enumerate(methods, start=1):
        disp = loaded[method]["displacement"]
        warped_labels = np.rint(warp_array(moving_labels, disp, "nearest"))
        ax = axes[0, k]
        ax.imshow(_middle_slice(loaded[method]["warped"]).T, cmap="gray", origin="lower")
        ax.contourf(_middle_slice(fixed_labels).T, levels=levels, alpha=0.15, cmap="tab10")
        ax.contour(_middle_slice(warped_labels).T, levels=levels, linewidths=0.4, cmap="tab10")
        ax.set_title(f"warped: {method}", fontsize=8)
        axes[1, k].imshow(np.zeros(_in_plane(disp).shape[1:]).T, cmap="gray", origin="lower")
        _grid_lines(axes[1, k], _in_plane(disp))
        axes[1, k].set_title(f"grid: {method}", fontsize=8)
        det = _middle_slice(jacobian_determinant(disp))
        cmap = plt.get_cmap("RdBu_r").copy()
        cmap.set_under("black")
        jac_image = axes[2, k].imshow(det.T, cmap=cmap, origin="lower", vmin=1e-6, vmax=2)
        axes[2, k].set_title(f"det J: {method}", fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    if jac_image is not None:
        fig.colorbar(jac_image, ax=axes.ravel().tolist(), fraction=0.015, pad=0.01, label="det J (≤ 0 black)")
    fig.suptitle(f"{manifest.data['task']}: {pair_id}", fontsize=10)
    save(fig, path)


def training_figure(runs: list[Path], path, window: int = 25) -> list[str]:
    """Training loss (running mean over ``window`` iterations) and, where logged, validation
    similarity and Dice per iteration, one line per training run; ``runs`` are the run folders
    ``train/<model>/seed<k>/`` with their ``train_log.csv`` and ``val_log.csv``. The panels drawn."""
    panels = {"loss": "training loss", "similarity": "validation similarity", "dice": "validation Dice"}
    curves = {name: [] for name in panels}
    for run in runs:
        label = f"{run.parent.name} ({run.name})"
        log = pd.read_csv(run / "train_log.csv")
        log["loss"] = log["loss"].rolling(window, min_periods=1).mean()
        curves["loss"].append(log.assign(run=label))
        if (run / "val_log.csv").exists():
            validation = pd.read_csv(run / "val_log.csv").assign(run=label)
            curves["similarity"].append(validation)
            curves["dice"].append(validation)
    shown = {
        name: pd.concat(frames)
        for name, frames in curves.items()
        if frames and pd.concat(frames)[name].notna().any()
    }
    fig, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown) + 1.5, 3.6), squeeze=False)
    for ax, (name, data) in zip(axes[0], shown.items()):
        sns.lineplot(
            data=data, x="iteration", y=name, hue="run", ax=ax, marker="." if name != "loss" else None
        )
        smoothing = f", running mean over {window}" if name == "loss" else ""
        ax.set(ylabel="", title=panels[name] + smoothing)
        ax.get_legend().remove()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    fig.tight_layout()
    save(fig, path)
    return list(shown)
