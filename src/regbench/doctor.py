"""``regbench doctor``: is this installation right for the study, on this node, before it runs?

Every check gives OK, WARN or FAIL with what to do; the command exits non-zero on any FAIL. With a
study config (``--configfile``) the checks weigh what that study needs (a missing Mamba kernel is
a FAIL where the study trains Mamba models on a GPU, a note otherwise).

- Python, torch (CUDA build, cuDNN), the GPUs seen, bfloat16;
- mamba-ssm and causal-conv1d: importable, and on a GPU the fused selective scan equal to
  regbench's PyTorch scan on a small random input (relative tolerance ``SCAN_TOLERANCE``);
- FireANTs' fused CUDA ops; antspyx, itk-elastix, unigradicon installed, uniGradICON's weights file;
- every plugin loaded (or why not);
- ``data_root`` writable, with free space for the study's datasets (sizes from the registry);
- SLURM: ``sbatch`` and ``squeue`` found, the executor plugin installed, the profile's partition and
  account set.
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from regbench import registry

#: largest relative difference allowed between mamba-ssm's fused scan and regbench's PyTorch scan
SCAN_TOLERANCE = 1e-3
OK, WARN, FAIL = "OK", "WARN", "FAIL"
MIN_PYTHON = (3, 10)


@dataclass
class Check:
    name: str
    status: str
    detail: str
    advice: str = ""


def verdict(name: str, ok: bool, good: str, bad: str, advice: str, failing: str = WARN) -> Check:
    """OK with ``good``, or ``failing`` with ``bad`` and what to do."""
    return Check(name, OK, good) if ok else Check(name, failing, bad, advice)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def python_check() -> Check:
    version = platform.python_version()
    if tuple(sys.version_info[:2]) < MIN_PYTHON:
        return Check("Python", FAIL, version, "regbench needs Python 3.10 or newer")
    return Check("Python", OK, version)


def torch_checks(study: dict) -> list[Check]:
    import torch

    checks = [Check("torch", OK, torch.__version__)]
    needs_gpu = study.get("device", "auto") != "cpu"
    if not torch.cuda.is_available():
        status = WARN if needs_gpu else OK
        advice = "install the CUDA build of torch on GPU nodes" if needs_gpu else ""
        built = torch.version.cuda or "none (a CPU build)"
        checks.append(Check("CUDA", status, f"no GPU visible; torch's CUDA: {built}", advice))
        return checks
    names = [torch.cuda.get_device_name(k) for k in range(torch.cuda.device_count())]
    memory = [torch.cuda.get_device_properties(k).total_memory / 2**30 for k in range(len(names))]
    gpus = ", ".join(f"{n} ({m:.0f} GiB)" for n, m in zip(names, memory))
    checks.append(
        Check("CUDA", OK, f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}: {gpus}")
    )
    bf16 = torch.cuda.is_bf16_supported()
    checks.append(verdict("bfloat16", bf16, "supported", "not supported", "use amp_dtype: float16"))
    return checks


def _study_models(study: dict) -> list[str]:
    from regbench.config import models

    try:
        return models(study) if study else []
    except Exception:  # noqa: BLE001 - a config that does not parse is the config check's to report
        return []


def mamba_check(study: dict) -> Check:
    """The Mamba kernels, and on a GPU their scan against regbench's."""
    import torch

    wanted = any(m.split("-")[0] in ("mamba", "mambatm") for m in _study_models(study))
    missing = [m for m in ("mamba_ssm", "causal_conv1d") if not _installed(m)]
    if missing:
        on_gpu = torch.cuda.is_available()
        status = FAIL if wanted and on_gpu else WARN if wanted else OK
        why = (
            "the study trains Mamba models" if wanted else "needed on GPUs by the mamba and mambatm backbones"
        )
        detail = f"{', '.join(missing)} not installed ({why})"
        advice = "pip install mamba-ssm causal-conv1d built for this torch and CUDA" if wanted else ""
        return Check("Mamba kernels", status, detail, advice)
    if not torch.cuda.is_available():
        return Check("Mamba kernels", OK, "installed (their scan is compared on a GPU only)")
    gap = scan_gap()
    status = OK if gap <= SCAN_TOLERANCE else FAIL
    return Check(
        "Mamba kernels",
        status,
        f"fused scan vs regbench's PyTorch scan: relative gap {gap:.1e} (tolerance {SCAN_TOLERANCE:g})",
        "" if status == OK else "reinstall mamba-ssm for this torch and CUDA",
    )


def scan_gap(seed: int = 0) -> float:
    """Largest relative difference between mamba-ssm's CUDA selective scan and regbench's."""
    import torch
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    from regbench.models.mamba import selective_scan

    generator = torch.Generator(device="cuda").manual_seed(seed)
    batch, channels, length, state = 2, 16, 64, 8

    def rand(*shape):
        return torch.randn(*shape, device="cuda", generator=generator)

    u, delta = rand(batch, channels, length), rand(batch, channels, length).sigmoid()
    a, b, c, d = (
        -rand(channels, state).exp(),
        rand(batch, state, length),
        rand(batch, state, length),
        rand(channels),
    )
    fused = selective_scan_fn(u, delta, a, b, c, d, delta_softplus=False)
    ours = selective_scan(u, delta, a, b, c, d)
    return float((fused - ours).abs().max() / ours.abs().max())


def baseline_checks(study: dict) -> list[Check]:
    listed = set(study.get("baselines", []))
    checks = []
    for method, module, package in (
        ("ants", "ants", "antspyx"),
        ("elastix", "itk", "itk-elastix"),
        ("fireants", "fireants", "fireants"),
        ("unigradicon", "unigradicon", "unigradicon"),
    ):
        if _installed(module):
            checks.append(Check(package, OK, "installed"))
        else:
            status = FAIL if method in listed else WARN
            checks.append(
                Check(
                    package,
                    status,
                    f"not installed{' (the study uses ' + method + ')' if method in listed else ''}",
                    "pip install 'regbench[baselines]'",
                )
            )
    import torch

    if _installed("fireants") and torch.cuda.is_available():
        checks.append(
            verdict(
                "FireANTs fused ops",
                _installed("fireants_fused_ops"),
                "installed",
                "not installed: FireANTs runs its PyTorch paths (slower, more memory on GPUs)",
                "build fireants' fused_ops for this torch and CUDA (see FireANTs' README)",
            )
        )
    if "unigradicon" in listed:
        checks += weight_checks(study)
    return checks


def weight_checks(study: dict) -> list[Check]:
    from regbench.baselines.unigradicon import DEFAULT_WEIGHTS

    checks = []
    for task, settings in study.get("task_settings", {}).items():
        if settings.get("data", {}).get("dims") != 3:  # uniGradICON registers 3D images only
            continue
        section = settings.get("unigradicon", {})
        path = Path(
            section.get("weights") or DEFAULT_WEIGHTS.format(model=section.get("model", "unigradicon"))
        )
        if path.is_file():
            checks.append(Check(f"uniGradICON weights ({task})", OK, str(path)))
        else:
            checks.append(
                Check(
                    f"uniGradICON weights ({task})",
                    WARN,
                    f"{path} missing: downloaded by the first job",
                    "place the file there where compute nodes have no internet",
                )
            )
    return checks


def plugin_checks() -> list[Check]:
    registry.backbones()
    registry.methods()
    plugins = [r for r in [*registry.backbones().values(), *registry.methods().values()] if r.plugin]
    checks = [Check(f"plugin {r.plugin}", OK, f"{r.name} loaded") for r in plugins]
    checks += [
        Check(f"plugin entry point {name}", FAIL, why, "fix or uninstall the plugin")
        for name, why in registry.BROKEN.items()
    ]
    return checks or [Check("plugins", OK, "none installed")]


def data_check(study: dict) -> Check:
    from regbench.data.registry import load

    root = Path(study.get("data_root", "resources"))
    existing = next(p for p in (root, *root.absolute().parents) if p.exists())  # made by the first download
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        return Check(
            "data_root",
            FAIL,
            f"{root}: not writable ({err.strerror})",
            "point data_root at a writable folder",
        )
    datasets = load()
    sources = set()
    for settings in study.get("task_settings", {}).values():
        sources.add(settings.get("data", {}).get("source"))
        sources |= {s.get("source") for s in settings.get("evaluation_sets", {}).values()}
    needed, unknown = 0, []
    for name in sorted(sources & set(datasets)):
        if not (root / name / "regbench-verified.json").exists():
            files = datasets[name].files
            needed += sum(2 * (f.size or 0) for f in files)  # the archive and its contents
            unknown += [name] if any(f.size is None for f in files) else []
    free = shutil.disk_usage(existing).free
    gib = 2**30
    detail = f"{root}: {free / gib:.1f} GiB free; missing datasets of the study need {needed / gib:.1f} GiB"
    detail += f" (and {', '.join(unknown)}, whose size the registry does not state)" if unknown else ""
    if needed > free:
        return Check("data_root", FAIL, detail, "free space or point data_root at larger storage")
    return Check("data_root", OK, detail)


def slurm_checks(profile: Path) -> list[Check]:
    found = all(shutil.which(tool) for tool in ("sbatch", "squeue"))
    checks = [
        verdict(
            "SLURM commands",
            found,
            "sbatch and squeue found",
            "sbatch/squeue not found: no SLURM here",
            "run on the cluster's login node for `snakemake --profile slurm`",
        ),
        verdict(
            "SLURM executor plugin",
            _installed("snakemake_executor_plugin_slurm"),
            "installed",
            "not installed",
            "pip install snakemake-executor-plugin-slurm",
            FAIL,
        ),
    ]
    try:
        settings = yaml.safe_load(profile.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        return [
            *checks,
            Check("SLURM profile", FAIL, f"{profile}: {err}", "restore profiles/slurm/config.yaml"),
        ]
    resources = settings.get("default-resources", {})
    unset = [key for key in ("slurm_partition", "slurm_account") if not resources.get(key)]
    checks.append(
        verdict(
            "SLURM profile",
            not unset,
            f"{profile}: partition and account set",
            f"{profile}: {', '.join(unset)} not set (the cluster's defaults are used)",
            "make slurm-profile PARTITION=... ACCOUNT=...",
        )
    )
    return checks


def run(study_path: str | None = None, profile: str | Path = "profiles/slurm/config.yaml") -> list[Check]:
    study = yaml.safe_load(Path(study_path).read_text()) if study_path else {}
    checks = [python_check(), *torch_checks(study), mamba_check(study), *baseline_checks(study)]
    checks += [*plugin_checks(), data_check(study), *slurm_checks(Path(profile))]
    return checks


def report(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  status  detail", "-" * (width + 40)]
    for c in checks:
        lines.append(
            f"{c.name:<{width}}  {c.status:<6}  {c.detail}"
            + (f"\n{'':<{width}}          -> {c.advice}" if c.advice else "")
        )
    fails = sum(c.status == FAIL for c in checks)
    warns = sum(c.status == WARN for c in checks)
    lines.append(f"{len(checks)} checks: {fails} FAIL, {warns} WARN")
    return "\n".join(lines)
