"""uniGradICON (Tian et al. 2024), a registration foundation model, used zero-shot: the published
network and weights (pip ``unigradicon``), optionally with its instance optimisation.

- **Weights**: ``model`` picks the published network: ``unigradicon``, or ``multigradicon``
  (the same architecture trained on multimodal pairs as well, for tasks such as MR–CT).
  ``weights`` is the path of its file (default ``resources/weights/<model>-1.0.trch``, one file
  per model; relative paths are relative to the study's working directory). When the file is
  missing it is downloaded from the model's GitHub release into that path (resumable, progress
  bar, one download at a time across jobs); where the internet is not reachable the error names
  the path and the URL to fetch by hand. A file that is not a state dict of this architecture is
  refused, naming it. Checksum: ``weights_sha256`` where the config pins one (the download and
  every job's loading check it); otherwise the first download records the file's sha256 beside it
  (``<weights>.sha256``, printed to pin) and every later job checks the file against that record.
- **Input**: 3D only. Each image is rescaled from its minimum to its ``upper_quantile`` onto
  [0, 1] and clipped (uniGradICON's MR preprocessing; regbench's images are already normalised,
  CT included), then resampled by the package to the network's ``grid``³ (175 for the published
  weights).
- **Instance optimisation**: ``io_iterations`` Adam steps on the network's weights for each pair
  (0: the network alone), learning rate ``io_lr``, similarity ``io_similarity`` (``lncc``, or
  ``mind`` for multimodal tasks such as MR–CT). The weights are restored after every pair.
- **Field**: the package returns an ITK transform from fixed to moving physical points; it is
  sampled on the fixed grid (study spacing, zero origin, identity direction), so the
  displacement in voxels is the physical one divided by the spacing, in regbench's convention.

Determinism: with ``io_iterations`` 0 the result does not depend on the seed; instance
optimisation draws random points for its inverse-consistency term from torch's generator, seeded
with the study seed (reproducible on the CPU).
"""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path

import numpy as np
import torch

from regbench import device as devices

DEFAULT_WEIGHTS = "resources/weights/{model}-1.0.trch"
URLS = {
    "unigradicon": "https://github.com/uncbiag/uniGradICON/releases/download/unigradicon_weights/Step_2_final.trch",
    "multigradicon": "https://github.com/uncbiag/uniGradICON/releases/download/multigradicon_weights/Step_2_final.trch",
}


def _packages():
    try:
        import icon_registration
        import icon_registration.itk_wrapper
        import itk
        import unigradicon
    except ImportError as err:
        raise RuntimeError(
            f"method 'unigradicon' needs the unigradicon package ({err.name} is missing): "
            "pip install 'regbench[baselines]' (or unigradicon)"
        ) from None
    return icon_registration, unigradicon, itk


def _record(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def expected_sha256(settings: dict, path: Path) -> str | None:
    """The weights' checksum: the pinned one, else the one recorded at the first download."""
    if settings.get("weights_sha256"):
        return settings["weights_sha256"]
    record = _record(path)
    return record.read_text().strip() if record.is_file() else None


def weights_file(settings: dict) -> Path:
    """The weights of ``settings['model']``, downloaded to ``settings['weights']`` (or the model's
    default path) when that file is missing."""
    path = Path(settings.get("weights") or DEFAULT_WEIGHTS.format(model=settings["model"]))
    if path.is_file():
        return path
    from filelock import FileLock

    from regbench.data.fetch import download
    from regbench.data.registry import DataFile

    url, pinned = URLS[settings["model"]], settings.get("weights_sha256")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):  # parallel jobs: one downloads, the others wait for it
        if not path.is_file():
            print(f"method 'unigradicon': downloading {settings['model']} weights to {path}", flush=True)
            try:
                sha256 = download(DataFile(path.name, url=url, sha256=pinned), path)
            except (RuntimeError, ValueError) as err:
                raise RuntimeError(
                    f"method 'unigradicon': weights {path} are missing and could not be downloaded "
                    f"({err}); fetch {url} to that path, or point task_settings.<task>.unigradicon.weights "
                    "at a copy"
                ) from None
            if not pinned:
                _record(path).write_text(sha256 + "\n")
                print(
                    f"method 'unigradicon': {path} has sha256 {sha256} (recorded in {_record(path).name}; "
                    "pin it as task_settings.<task>.unigradicon.weights_sha256)",
                    flush=True,
                )
    return path


@functools.lru_cache(maxsize=2)
def network(weights: str, model: str, grid: int, similarity: str, device: str, sha256: str | None = None):
    """The published architecture at ``grid``³ with ``weights`` loaded (checked against ``sha256``
    where known), in eval mode."""
    if sha256:
        from regbench.data.fetch import file_hash

        if (actual := file_hash(Path(weights), "sha256")) != sha256:
            raise RuntimeError(
                f"method 'unigradicon': {weights} has sha256 {actual}, expected {sha256} (a changed or "
                "corrupt file); delete it to download the published weights again"
            )
    icon_registration, unigradicon, _ = _packages()
    icon_registration.config.device = torch.device(device)
    loss = unigradicon.make_sim(similarity)
    net = unigradicon.make_network([1, 1, grid, grid, grid], include_last_step=True, loss_fn=loss)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.regis_net.load_state_dict(state)
    except Exception as err:  # noqa: BLE001 - any unreadable or mismatched file gets the same answer
        reason = str(err).splitlines()[0]
        raise RuntimeError(
            f"method 'unigradicon': {weights} is not a {model} state dict ({reason}); delete it to download "
            "the published weights again"
        ) from None
    return net.to(device).eval()


def _normalise(array: np.ndarray, upper_quantile: float) -> np.ndarray:
    low, high = float(array.min()), float(np.quantile(array, upper_quantile))
    if high <= low:
        raise ValueError("method 'unigradicon': an image is constant (nothing to register)")
    return np.clip((array - low) / (high - low), 0.0, 1.0).astype(np.float32)


def _network(settings: dict, device: torch.device):
    weights = weights_file(settings)
    sha256 = expected_sha256(settings, weights)
    return network(
        str(weights), settings["model"], settings["grid"], settings["io_similarity"], str(device), sha256
    )


def prepare(settings: dict) -> None:
    """Download (if missing) and load the network, and load ITK's modules (lazily loaded on
    first use), once per job before the pairs are timed."""
    _, _, itk = _packages()
    for name in ("image_from_array", "transform_to_displacement_field_filter"):
        getattr(itk, name)
    _network(settings, devices.select(settings["device"], announce=False))


def register_pair(fixed: np.ndarray, moving: np.ndarray, spacing, settings: dict, seed: int) -> np.ndarray:
    """Return the displacement ``[3, *shape]`` in voxels registering moving to fixed;
    ``settings``: the task's ``unigradicon`` section (schema defaults filled in)."""
    if fixed.ndim != 3:
        raise ValueError(f"method 'unigradicon' registers 3D volumes; this task's images are {fixed.ndim}D")
    icon_registration, _, itk = _packages()
    device = devices.select(settings["device"], announce=False)
    net = _network(settings, device)
    icon_registration.config.device = device
    images = []
    for array in (fixed, moving):
        image = itk.image_from_array(_normalise(array, settings["upper_quantile"]))
        image.SetSpacing([float(s) for s in reversed(spacing)])
        images.append(image)
    torch.manual_seed(seed)
    steps = settings["io_iterations"] or None  # the package reads None as "no optimisation"
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the loss of every step
        moving_to_fixed, _ = icon_registration.itk_wrapper.register_pair(
            net, images[1], images[0], finetune_steps=steps, learning_rate=settings["io_lr"]
        )
    field = itk.transform_to_displacement_field_filter(
        moving_to_fixed, reference_image=images[0], use_reference_image=True
    )
    # [*shape, 3] physical offsets in ITK's (reversed) component order -> [3, *shape] in voxels
    field = np.moveaxis(itk.array_from_image(field)[..., ::-1], -1, 0)
    return (field / np.asarray(spacing, np.float64).reshape(3, 1, 1, 1)).astype(np.float32)
