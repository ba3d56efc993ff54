"""One training run: manifest + model name + settings in, a trained model file out.

Unsupervised and bidirectional, as in the reference (rethink-reg-spec §2.3): similarity between each
warped image and its target plus λ times the diffusion regulariser on the raw half-resolution
flows; pyramid models add the same objective at their coarse levels (weight 1/scale, images
average-pooled), except at levels of 4 voxels or fewer along a side (``MIN_SUPERVISED_SIZE``).
Adam (amsgrad) with a per-epoch exponential learning-rate decay.

Every ``val_every`` iterations (and at the start and the end) the validation pairs are registered
and logged (:mod:`regbench.validation`); nothing is selected by them.

Resumable: a checkpoint (weights, optimiser, iteration) is written atomically every
``checkpoint_every`` iterations. Each iteration draws its pairs from a generator seeded by
``(seed, iteration)``, so a resumed run is bit-identical to an uninterrupted one on the CPU. A
checkpoint from different settings is ignored, never silently continued.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from regbench import device as devices
from regbench import snapshots
from regbench.batches import TrainingBatches, loader
from regbench.data.manifest import Manifest
from regbench.io import atomic_path
from regbench.losses import diffusion_loss, similarity_loss
from regbench.models.fields import resize_flow, warp
from regbench.models.zoo import architecture, build
from regbench.validation import VAL_LOG_HEADER, Validation

#: pyramid levels this small (any side) get no deep supervision: similarity on a few pixels is
#: degenerate. The reference differs: its diffusion regulariser raises an error on a side of 4 or
#: fewer (rethink-reg-spec §2.2) and only its cardiac script skips such a level (§2.3); no paper
#: grid reaches one, and skipping lets small grids (the demo's, the tests') train every design
MIN_SUPERVISED_SIZE = 4
LOG_HEADER = "iteration,loss,similarity,regulariser,lr,seconds\n"
#: consecutive non-finite losses tolerated under fp16 autocast (the gradient scaler's back-off)
AMP_NONFINITE_PATIENCE = 10


def objective(model, source, target, similarity, weight: float, multiplier: float):
    """Bidirectional loss; returns ``(total, similarity term, regulariser term)`` of the final level."""
    forward, backward = model.both_directions(source, target)
    total = sim_final = reg_final = None
    for fwd, bwd in zip(forward, backward):
        factor = source.shape[-1] // fwd.shape[-1]
        if fwd is forward[-1]:  # half-resolution output, scored at full resolution
            s, t = source, target
            wf, wb = resize_flow(fwd, 2.0), resize_flow(bwd, 2.0)
            level_weight = 1.0
        elif min(fwd.shape[2:]) <= MIN_SUPERVISED_SIZE:
            continue
        else:
            pool = F.avg_pool2d if source.ndim == 4 else F.avg_pool3d
            s, t = pool(source, factor), pool(target, factor)
            wf, wb = fwd, bwd
            level_weight = 1.0 / factor
        with torch.autocast(source.device.type, enabled=False):
            sim = 0.5 * (
                similarity(warp(s.float(), wf.float()), t.float())
                + similarity(warp(t.float(), wb.float()), s.float())
            )
        reg = diffusion_loss(torch.cat([fwd, bwd]).float(), multiplier)
        term = level_weight * (sim + weight * reg)
        total = term if total is None else total + term
        sim_final, reg_final = sim, reg
    return total, sim_final, reg_final


def autocast_dtype(settings: dict, device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype of the forward pass (None: float32): ``amp`` on CUDA, in
    ``amp_dtype`` (``auto``: bfloat16 where the GPU has it, else float16); bfloat16 also on the CPU."""
    if not settings.get("amp", True):
        return None
    choice = settings.get("amp_dtype", "float16")
    if choice == "auto":
        choice = "bfloat16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "float16"
    if device.type != "cuda" and choice != "bfloat16":
        return None  # float16 autocast on the CPU is slower than float32
    return getattr(torch, choice)


def memory_format(ndim: int) -> torch.memory_format:
    """Channels-last layout of images and activations (``channels_last`` setting)."""
    return torch.channels_last_3d if ndim == 3 else torch.channels_last


def fingerprint(model_name: str, settings: dict, seed: int, train_ids: list[str]) -> str:
    blob = json.dumps([model_name, settings, seed, train_ids], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def training_pairs(manifest: Manifest, train_ids: list[str]) -> np.ndarray | None:
    """The manifest's training pairs as ``[k, 2]`` indices into ``train_ids`` (None: any two)."""
    if manifest.training_pairs is None:
        return None
    index = {sid: k for k, sid in enumerate(train_ids)}
    outside = sorted({s for pair in manifest.training_pairs for s in pair} - set(index))
    if outside or not manifest.training_pairs:
        problem = f"subjects outside the train split: {outside[:5]}" if outside else "an empty list"
        raise ValueError(f"{manifest.path}: training_pairs has {problem}")
    return np.array([[index[a], index[b]] for a, b in manifest.training_pairs])


def train(
    manifest_path: str | Path,
    model_name: str,
    settings: dict,
    seed: int,
    out: str | Path,
    log_path: str | Path,
    device: str = "auto",
    threads: int | None = None,
    data_workers: int = 2,
    val_log_path: str | Path | None = None,
    keep: tuple[int, ...] = (),
) -> Path:
    """Train ``model_name`` on the manifest's training subjects and write the model file ``out``,
    the training log ``log_path`` and the validation log ``val_log_path`` (CSV; by default
    ``val_log.csv`` beside the training log); ``data_workers`` processes read the next batches from
    disk meanwhile (0: this one does). At the iterations in ``keep`` the weights are kept as
    snapshots beside ``out`` (:mod:`regbench.snapshots`)."""
    out, log_path = Path(out), Path(log_path)
    val_log_path = log_path.with_name("val_log.csv") if val_log_path is None else Path(val_log_path)
    checkpoint_path = out.with_name("checkpoint.pt")
    manifest = Manifest.load(manifest_path)
    dev = devices.select(device, threads)
    train_ids = manifest.split("train")
    if len(train_ids) < 2:
        raise ValueError(f"{manifest.path}: training needs at least 2 subjects, found {len(train_ids)}")
    pairs = training_pairs(manifest, train_ids)

    torch.manual_seed(seed)
    model = build(model_name, manifest.ndim, **architecture(settings)).to(dev)
    layout = memory_format(manifest.ndim) if settings.get("channels_last") else torch.contiguous_format
    model = model.to(memory_format=layout)
    if settings.get("compile"):  # the weights stay the module's: checkpoints are unchanged
        model.both_directions = torch.compile(model.both_directions)
    if not settings.get("deterministic", True):  # cuDNN autotuning: faster, not reproducible
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"], amsgrad=True)
    amp_dtype = autocast_dtype(settings, dev)
    # the gradient scaler guards float16's narrow range; bfloat16 has float32's
    scaler = torch.amp.GradScaler(dev.type, enabled=amp_dtype == torch.float16)
    similarity = similarity_loss(settings["similarity"], manifest.ndim, settings.get("lncc_window", 9))
    key = fingerprint(model_name, settings, seed, train_ids)
    saved_as = (model_name, manifest.ndim, settings, seed)  # what a model file records

    start, rows, val_rows = 0, [], []
    if checkpoint_path.exists():
        try:  # tensors and plain containers only: a crafted pickle cannot run code here
            state = torch.load(checkpoint_path, map_location=dev, weights_only=True)
        except Exception as err:
            raise ValueError(
                f"{checkpoint_path}: not a regbench checkpoint ({err}); delete it to train from the start"
            ) from None
        if state.get("fingerprint") == key:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            start, rows, val_rows = (
                state["iteration"],
                list(state.get("log", [])),
                list(state.get("val_log", [])),
            )
            print(f"resuming {model_name} from {checkpoint_path} at iteration {start}", flush=True)
        else:
            print(f"ignoring {checkpoint_path}: written for other settings", flush=True)

    iterations = settings["iterations"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # the logs grow in running files, rewritten from the checkpoint's copy (lines written after the
    # last checkpoint would be repeated), and replace the logs only beside the finished model: a
    # killed rerun leaves the previous model's logs whole
    live = [path.with_name(f"{path.stem}.running{path.suffix}") for path in (log_path, val_log_path)]
    log, val_log = (path.open("w") for path in live)
    log.write(LOG_HEADER + "".join(rows))
    val_log.write(VAL_LOG_HEADER + "".join(val_rows))
    val_every = settings.get("val_every", 0)  # 0: no validation
    validation = Validation(manifest, settings.get("val_pairs", 4), similarity, dev) if val_every else None

    def validate(iteration: int) -> None:
        if validation:
            val_rows.append(validation(model, iteration, amp_dtype))
            val_log.write(val_rows[-1])
            val_log.flush()

    if start == 0:
        validate(0)
    model.train()
    progress = tqdm(
        range(start, iterations),
        desc=f"train {model_name}",
        unit="it",
        initial=start,
        total=iterations,
        mininterval=2.0,
    )
    nonfinite = 0
    # each iteration's images are read from disk (by workers, ahead of time), not held in memory
    batches = TrainingBatches(manifest, train_ids, settings, seed, start, pairs)
    stream = iter(loader(batches, data_workers, pin=dev.type == "cuda"))
    for it in progress:
        tick = time.perf_counter()
        source, target = (t.to(dev, non_blocking=True, memory_format=layout) for t in next(stream))
        lr = settings["lr"] * settings["lr_decay"] ** (it // settings["iterations_per_epoch"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(dev.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            loss, sim, reg = objective(
                model, source, target, similarity, settings["lambda"], settings.get("loss_mult", 1.0)
            )
        # with fp16 autocast the gradient scaler skips a step whose loss overflowed and backs
        # off; a loss that stays non-finite (or any, in float32) is a diverged run
        nonfinite = 0 if torch.isfinite(loss) else nonfinite + 1
        if nonfinite > (AMP_NONFINITE_PATIENCE if scaler.is_enabled() else 0):
            raise RuntimeError(
                f"training {model_name}: the loss became {loss.item()} at iteration {it + 1} "
                f"(a non-finite image, or a learning rate too high); no model written"
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        devices.synchronize(dev)
        seconds = time.perf_counter() - tick
        rows.append(f"{it + 1},{loss.item():.6f},{sim.item():.6f},{reg.item():.6f},{lr:.3e},{seconds:.4f}\n")
        log.write(rows[-1])
        progress.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        if val_every and ((it + 1) % val_every == 0 or it + 1 == iterations):
            validate(it + 1)
        if it + 1 in keep and it + 1 < iterations:
            snapshots.save(snapshots.snapshot_path(out, it + 1), model, *saved_as, it + 1, key)
        if (it + 1) % settings["checkpoint_every"] == 0 and it + 1 < iterations:
            log.flush()
            with atomic_path(checkpoint_path) as tmp:
                torch.save(
                    {
                        "fingerprint": key,
                        "iteration": it + 1,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scaler": scaler.state_dict(),
                        "log": rows,
                        "val_log": val_rows,
                    },
                    tmp,
                )
    log.close()
    val_log.close()
    for running, final in zip(live, (log_path, val_log_path)):
        os.replace(running, final)
    snapshots.save(out, model, *saved_as, iterations, key)
    checkpoint_path.unlink(missing_ok=True)
    return out
