"""Training cost: seconds per iteration and peak memory (a benchmark, not a test).

    python bench/train.py --subjects 20 200 500                  # memory against subjects (CPU)
    python bench/train.py --models cnn swin --size 96 128 96     # seconds per iteration
    python bench/train.py --models cnn --size 160 192 224 --device cuda --paths default bf16 compile
    python bench/train.py --models cnn swin --size 160 192 224 --iterations 3 --max-memory-gb 20  # CPU

Each run trains one model for a few iterations on synthetic subjects (smooth random volumes
written as NIfTI, as the preprocessed data are) through :func:`regbench.train.train`, the code
the pipeline runs, in a fresh process, and reports the mean seconds per iteration after the
first two and the process's peak memory: resident memory on the CPU (the training process and,
separately, the largest batch-reading worker), allocated memory on CUDA.

``--paths`` repeats each run with each fast path of the training settings: ``default`` (float32
on the CPU, float16 autocast on CUDA), ``fp32``, ``bf16``, ``channels_last``, ``compile`` and
``autotune`` (``deterministic: false``).

``--max-memory-gb`` stops a run whose resident memory passes it (checked twice a second) and
reports it on the model's line, as a run that fails is: the other runs go on.

``--subjects`` trains the same model on the same grid with more and more subjects: the training
images are read per batch, so peak memory must not grow with their number. The last line reads
``subjects=<a,b,c> peak_mb=<x,y,z> ratio=<max/min>`` (the training process's peak).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SETTINGS = {
    "iterations": 8,
    "batch_size": 1,
    "lr": 1e-4,
    "lr_decay": 1.0,
    "iterations_per_epoch": 100,
    "similarity": "lncc",
    "lncc_window": 9,
    "lambda": 1.0,
    "loss_mult": 1.0,
    "checkpoint_every": 1000,
    "amp": True,
    "flip": True,
}


PATHS = {
    "default": {},
    "fp32": {"amp": False},
    "bf16": {"amp_dtype": "bfloat16"},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
    "autotune": {"deterministic": False},
}


def write_subjects(folder: Path, count: int, shape) -> Path:
    """``count`` smooth random volumes and a manifest training on all but two of them."""
    from scipy import ndimage

    from regbench.io import save_image, write_json

    rng = np.random.default_rng(0)
    base = ndimage.gaussian_filter(rng.random(shape), 2).astype(np.float32)
    subjects = {}
    for k in range(count):
        name = f"sub-{k:04d}"
        image = base + 0.05 * rng.standard_normal(shape).astype(np.float32)
        save_image(folder / f"{name}.nii", image, (1.0,) * len(shape))
        subjects[name] = {"image": f"{name}.nii"}
    ids = list(subjects)
    manifest = {
        "task": "bench",
        "dims": len(shape),
        "shape": list(shape),
        "spacing": [1.0] * len(shape),
        "labels": {},
        "subjects": subjects,
        "splits": {"train": ids[:-2], "val": [], "test": ids[-2:]},
        "pairs": [{"id": "pair-000", "fixed": ids[-2], "moving": ids[-1]}],
    }
    write_json(folder / "manifest.json", manifest)
    return folder / "manifest.json"


def child(a) -> None:
    """In this process: train, then print the costs as JSON."""
    import torch

    from regbench.train import train

    settings = SETTINGS | {"iterations": a.iterations, "batch_size": a.batch} | PATHS[a.paths[0]]
    with tempfile.TemporaryDirectory() as out:
        device = torch.device(a.device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        train(
            a.manifest,
            a.model,
            settings,
            0,
            Path(out) / "model.pt",
            Path(out) / "log.csv",
            a.device,
            a.threads,
            a.workers,
        )
        seconds = [
            float(line.split(",")[-1]) for line in (Path(out) / "log.csv").read_text().splitlines()[1:]
        ]
    costs = {
        "seconds_per_iteration": float(np.mean(seconds[2:] or seconds)),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    if device.type == "cuda":
        costs["device_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    print(json.dumps(costs))


def run(manifest: Path, model: str, path: str, a) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--manifest",
        str(manifest),
        "--models",
        model,
        "--paths",
        path,
    ]
    cmd += ["--device", a.device, "--iterations", str(a.iterations), "--batch", str(a.batch)]
    cmd += ["--workers", str(a.workers), "--threads", str(a.threads)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child_process = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        over = watch_memory(child_process, a.max_memory_gb)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if over:
        return {"error": f"stopped above {a.max_memory_gb:g} GB resident"}
    if child_process.returncode:
        last = (stderr.strip().splitlines() or ["no message"])[-1]
        reason = "killed (out of memory?)" if child_process.returncode == -9 else last
        print(f"{model} {path}: training failed:\n{stderr[-3000:]}", file=sys.stderr)
        return {"error": f"failed: {reason}"}
    return json.loads(stdout.strip().splitlines()[-1])


def watch_memory(process: subprocess.Popen, limit_gb: float | None) -> bool:
    """Wait for the process; kill it once its resident memory passes ``limit_gb`` (Linux), so that
    a model too large for the machine is reported instead of bringing the machine down."""
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            resident_kb = next(
                int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmRSS")
            )
        except (OSError, StopIteration):
            resident_kb = 0
        if limit_gb and resident_kb > limit_gb * 2**20:
            process.kill()
            process.wait()
            return True
        time.sleep(0.5)
    return False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subjects", type=int, nargs="+", help="sweep the number of training subjects")
    p.add_argument("--models", nargs="+", default=["cnn"])
    p.add_argument("--size", type=int, nargs="+", help="grid (default 64³ for --subjects, else 96×128×96)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--iterations", type=int, default=8)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="data_workers")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--paths", nargs="+", default=["default"], choices=list(PATHS), help="fast paths to compare"
    )
    p.add_argument("--max-memory-gb", type=float, help="stop a run whose resident memory passes this")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--manifest", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        a.model = a.models[0]
        child(a)
        return
    shape = tuple(a.size or ([64, 64, 64] if a.subjects else [96, 128, 96]))
    grid = "×".join(map(str, shape))
    header = f"{'model':<10} {'path':<13} {'subjects':>8} {'s/it':>8} {'peak MB':>9} {'worker MB':>10}"
    header += f" {'GPU MB':>8}"
    print(f"{header}   grid {grid}, batch {a.batch}, {a.device}, {a.workers} data workers")
    peaks = []
    for count in a.subjects or [4]:
        with tempfile.TemporaryDirectory(prefix="regbench-bench-") as folder:
            manifest = write_subjects(Path(folder), count + 2, shape)
            runs = [(m, p) for m in a.models for p in a.paths]
            for model, path in runs[:1] if a.subjects else runs:  # the sweep: one model, one path
                r = run(manifest, model, path, a)
                if "error" in r:
                    print(f"{model:<10} {path:<13} {count:>8}   {r['error']}", flush=True)
                    continue
                gpu = f"{r['device_peak_mb']:>8.0f}" if "device_peak_mb" in r else f"{'-':>8}"
                print(
                    f"{model:<10} {path:<13} {count:>8} {r['seconds_per_iteration']:>8.3f} "
                    f"{r['peak_mb']:>9.0f} {r['worker_peak_mb']:>10.0f} {gpu}",
                    flush=True,
                )
                peaks.append(r["peak_mb"])
    if a.subjects:
        ratio = max(peaks) / min(peaks)
        print(
            f"subjects={','.join(map(str, a.subjects))} peak_mb={','.join(f'{x:.0f}' for x in peaks)} "
            f"ratio={ratio:.2f}"
        )


if __name__ == "__main__":
    main()
