"""Model files: the trained network of a run, and the snapshots kept on the way.

A training run writes ``model.pt`` at its last iteration and, where ``training.snapshots`` lists
earlier iterations, the same kind of file for each under ``snapshots/iter<N>.pt`` beside it: the
weights of that very run at that point (no retraining), so that accuracy can be set against the
training budget. Every file carries the run's fingerprint (model, settings, seed, training
subjects); a snapshot is only used with the model file of the same run.

The snapshot list does not enter the fingerprint and is no rerun trigger of the training job:
changing it retrains nothing. An iteration that the finished run did not keep is an error that
says how to get it (``--forcerun train``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from regbench.io import atomic_path


def snapshot_path(model_file: str | Path, iteration: int) -> Path:
    """Where the run that writes ``model_file`` keeps its weights at ``iteration``."""
    return Path(model_file).with_name("snapshots") / f"iter{iteration}.pt"


def save(path: str | Path, model, name: str, ndim: int, settings: dict, seed: int, iteration: int, key: str):
    """A model file: everything :func:`load` needs to rebuild the network, and the run's key."""
    with atomic_path(path) as tmp:
        torch.save(
            {
                "model": name,
                "ndim": ndim,
                "state_dict": model.state_dict(),
                "settings": settings,
                "seed": seed,
                "iterations": iteration,
                "fingerprint": key,
            },
            tmp,
        )


def read(path: str | Path, device) -> dict:
    """The contents of a model file (tensors and plain containers only: no code runs)."""
    path = Path(path)
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: model file not found") from None
    except Exception as err:
        raise ValueError(f"{path}: not a regbench model file ({err})") from None


def load(model_file: str | Path, device, iteration: int | None = None):
    """The network of a finished run (``model_file``), or its snapshot at ``iteration``."""
    from regbench.models.zoo import architecture, build

    saved = read(model_file, device)
    path = Path(model_file)
    if iteration is not None and iteration != saved.get("iterations"):
        path = snapshot_path(model_file, iteration)
        if not path.exists():
            kept = sorted(int(p.stem[4:]) for p in path.parent.glob("iter*.pt"))
            raise FileNotFoundError(
                f"{path}: the run of {model_file} did not keep iteration {iteration} (kept: "
                f"{kept or 'none'}); a snapshot list takes effect when a model trains: rerun its "
                "training with `--forcerun train` to keep it"
            )
        run_key = saved.get("fingerprint")
        saved = read(path, device)
        if saved.get("fingerprint") != run_key:
            raise ValueError(
                f"{path}: kept by another training run than {model_file} (other settings or seed); "
                "rerun the training with `--forcerun train`"
            )
    try:
        model = build(saved["model"], saved["ndim"], **architecture(saved["settings"])).to(device)
        model.load_state_dict(saved["state_dict"])
    except Exception as err:
        raise ValueError(f"{path}: not a regbench model file ({err})") from None
    return model.eval()
