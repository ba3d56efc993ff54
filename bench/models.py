"""Speed and memory of the model presets and of the correlation layer (a benchmark, not a test).

    python bench/models.py                      # every preset, 2D 128×128 and a small 3D size
    python bench/models.py --size 160 192 224   # one size (3D brain), presets chosen with --models
    python bench/models.py --correlation        # correlation layer at the brain 1/2 level

Each figure comes from a fresh subprocess: time is the median of --repeat runs after one warm-up;
memory is the peak resident-set growth (CPU) or peak allocated memory (CUDA, AMP on) during the
first pass, inputs excluded. The correlation benchmark compares regbench's layer with the einsum over an
unfolded window (the reference's 'einsum' mode), forward and forward + backward.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(step, device: str, repeat: int) -> dict:
    import torch

    # memory: growth of the peak over the first pass (RSS is a high-water mark, so later passes
    # could not show it); it doubles as the warm-up for the timings
    base = _peak_rss_mb()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    step()
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _peak_rss_mb() - base
    times = []
    for _ in range(repeat):
        tick = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - tick)
    return {"seconds": statistics.median(times), "peak_mb": peak}


def einsum_correlation(target, source, radius: int = 1):
    """The unfold + einsum formulation (materialises C·(2r+1)^ndim copies of the source)."""
    import torch.nn.functional as F

    ndim = target.ndim - 2
    k = 2 * radius + 1
    window = F.pad(source, [radius] * (2 * ndim))
    for d in range(ndim):
        window = window.unfold(2 + d, k, 1)
    letters = "xyz"[:ndim]
    spec = f"bc{letters},bc{letters}{'ijk'[:ndim]}->b{'ijk'[:ndim]}{letters}"
    out = __import__("torch").einsum(spec, target, window) / target.shape[1] ** 0.5
    return out.reshape(out.shape[0], k**ndim, *target.shape[2:])


def _one(job: dict) -> dict:
    import torch

    from regbench.models.zoo import build
    from regbench.models.correlation import local_correlation

    torch.set_num_threads(job["threads"])
    device = job["device"]
    torch.manual_seed(0)
    if job["kind"] == "model":
        net = build(job["model"], len(job["size"])).to(device)
        src = torch.rand(1, 1, *job["size"], device=device)
        tgt = torch.rand(1, 1, *job["size"], device=device)

        def step():
            net.zero_grad(set_to_none=True)
            with torch.autocast(device, dtype=torch.float16, enabled=device == "cuda"):
                fwd, bwd = net.both_directions(src, tgt)
                loss = fwd[-1].float().square().mean() + bwd[-1].float().square().mean()
            loss.backward()

        return _measure(step, device, job["repeat"])
    layer = local_correlation if job["mode"] == "regbench" else einsum_correlation
    t = torch.randn(1, job["channels"], *job["size"], device=device, requires_grad=job["backward"])
    s = torch.randn(1, job["channels"], *job["size"], device=device, requires_grad=job["backward"])

    def step():
        out = layer(t, s, 1)
        if job["backward"]:
            out.sum().backward()

    return _measure(step, device, job["repeat"])


def _run(job: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--job", json.dumps(job)], capture_output=True, text=True
    )
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", help="presets (default: all)")
    p.add_argument("--size", nargs="+", type=int, help="one image size (default: 128 128 and 64 64 64)")
    p.add_argument("--correlation", action="store_true", help="benchmark the correlation layer only")
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--device", default="cuda" if _cuda() else "cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--job", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.job:
        print(json.dumps(_one(json.loads(a.job))))
        return
    common = {"device": a.device, "threads": a.threads, "repeat": a.repeat}
    print(f"device={a.device} threads={a.threads} repeat={a.repeat}")
    if a.correlation:
        size = a.size or [80, 96, 112]
        print(f"correlation r=1, C={a.channels}, size {'×'.join(map(str, size))}")
        for backward in (False, True):
            for mode in ("regbench", "einsum"):
                job = {
                    **common,
                    "kind": "correlation",
                    "mode": mode,
                    "size": size,
                    "channels": a.channels,
                    "backward": backward,
                }
                r = _run(job)
                name = f"{mode} {'fwd+bwd' if backward else 'fwd'}"
                print(
                    f"{name:<20} " + (r.get("error") or f"{r['seconds']:8.3f} s {r['peak_mb']:9.1f} MB"),
                    flush=True,
                )
        return
    from regbench.names import PRESETS

    for size in [a.size] if a.size else [[128, 128], [64, 64, 64]]:
        print(f"\nforward + backward, both directions, size {'×'.join(map(str, size))}")
        for model in a.models or PRESETS:
            r = _run({**common, "kind": "model", "model": model, "size": size})
            print(
                f"{model:<12} " + (r.get("error") or f"{r['seconds']:8.3f} s {r['peak_mb']:9.1f} MB"),
                flush=True,
            )


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
