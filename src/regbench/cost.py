"""``regbench cost``: what a study will cost, measured on this machine before it runs.

Nothing is tabulated: on the device it runs on (``--device``), it times ``--iterations`` training
steps of every model of the study at each task's grid and batch size (after one warm-up step, with
the training job's threads), one registration of a pair by each model and each baseline, one
evaluation of a pair, a job's start-up (the imports of a fresh ``python``) and the statistics and
figures of a table of the study's size. Pairs are the prepared ones where ``results/<task>/data``
exists (a study that ran before), else synthetic images of the task's grid (4 labels).

The jobs come from the study's own DAG (a dry run of its Snakefile with these config files, in an
empty folder), so every job kind, part and dependency is the workflow's. Each job's duration is its
start-up plus its measured work (training: iterations × step, plus the validations; registration
and evaluation: pairs × per-pair time). It reports per job kind and task the device-hours and the
peak memory measured against the memory the job asks for (``resources``; each job that would
exceed it is flagged with the setting to raise), and the wall time on N GPUs by scheduling the DAG:
GPU jobs (training, learned registration, methods that ask for one) on N devices, CPU jobs beside
them; ``--local`` schedules every job on this machine's cores, as ``snakemake --cores`` does.
Data downloads and preparation of registered datasets are not measured (shown as such).
"""

from __future__ import annotations

import copy
import math
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from regbench import config as study_config
from regbench import registry

REPO = Path(__file__).resolve().parents[2]
STARTUP_IMPORTS = "import torch, regbench.train, regbench.evaluate, regbench.register"
ANALYSIS_IMPORTS = "import regbench.analysis.aggregate, regbench.analysis.figures"
#: the rules whose jobs train a network (the λ grid's trainings are timed like the others)
TRAINING_RULES = ("train", "train_lambda")


@dataclass
class Job:
    rule: str
    wildcards: dict[str, str]
    threads: int
    resources: dict[str, str]
    inputs: list[str]
    outputs: list[str]
    seconds: float = 0.0
    peak_mb: float = float("nan")
    measured: bool = True
    deps: list[int] = field(default_factory=list)


def load_config(paths: list[str]) -> dict:
    """The study config as Snakemake sees it: config/config.yaml under the given files (merged
    recursively), schema defaults filled in, checked."""
    from jsonschema import Draft202012Validator

    merged: dict = {}
    for path in [REPO / "config/config.yaml", *paths]:
        _update(merged, yaml.safe_load(Path(path).read_text()) or {})
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    validator = study_config._defaults_filled(Draft202012Validator)(schema)
    error = next(iter(validator.iter_errors(merged)), None)
    if error is not None:
        raise study_config.ConfigError(
            f"config: {error.message} at {'.'.join(map(str, error.absolute_path))}"
        )
    study_config.check(merged)
    return merged


def _update(base: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def plan(paths: list[str]) -> list[Job]:
    """The study's jobs, from a dry run of its Snakefile in an empty folder."""
    configs = [str(REPO / "config/config.yaml"), *map(str, paths)]
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-n"]
        command += ["--directory", folder, "--configfile", *configs]
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the dry run of the study failed:\n{(done.stdout + done.stderr)[-2000:]}")
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", done.stdout + done.stderr):
        head = re.match(r"(?:local)?rule (\w+):", block)
        if not head or head[1] == "all":
            continue
        fields = dict(re.findall(r"^    (\w+): (.*)$", block, re.M))
        split = lambda text: [x.split(" (")[0] for x in text.split(", ")] if text else []  # noqa: E731
        jobs.append(
            Job(
                head[1],
                dict(kv.split("=", 1) for kv in split(fields.get("wildcards", ""))),
                int(fields.get("threads", 1)),
                dict(kv.split("=", 1) for kv in split(fields.get("resources", "")) if "=" in kv),
                split(fields.get("input", "")),
                split(fields.get("output", "")),
            )
        )
    producer = {path: k for k, job in enumerate(jobs) for path in job.outputs}
    for job in jobs:
        job.deps = sorted({producer[p] for p in job.inputs if p in producer})
    return jobs


def startup_seconds(imports: str) -> float:
    """A fresh interpreter's start-up with a job's imports (the median of three)."""
    runs = []
    for _ in range(3):
        tick = time.perf_counter()
        subprocess.run([sys.executable, "-c", imports], check=True)
        runs.append(time.perf_counter() - tick)
    return float(np.median(runs))


class Pairs:
    """A task's images and label maps: the prepared ones where the study ran before, else synthetic."""

    def __init__(self, task: str, data: dict):
        from regbench.data.manifest import Manifest

        path = Path(f"results/{task}/data/manifest.json")
        self.manifest = Manifest.load(path) if path.exists() else None
        shape = tuple(data["shape"])
        if self.manifest is not None:
            pair = self.manifest.pairs[0]
            self.fixed, self.moving = (self.manifest.image(pair[k]) for k in ("fixed", "moving"))
            self.spacing, self.source = self.manifest.spacing, f"{path.parent}"
        else:
            from scipy import ndimage

            rng = np.random.default_rng(0)
            self.fixed = ndimage.gaussian_filter(rng.random(shape), 3).astype(np.float32)
            self.moving = np.roll(self.fixed, 2, axis=0)
            spacing = data.get("spacing") or [data.get("resolution_mm", 1.0)] * data["dims"]
            self.spacing, self.source = tuple(spacing), "synthetic images"


def measure_training(
    model: str, task: str, settings: dict, data: dict, device, steps: int
) -> tuple[float, float, float]:
    """Seconds per training step, seconds per registered pair, and the peak memory (MB)."""
    import torch

    from regbench import device as devices
    from regbench.losses import similarity_loss
    from regbench.models.zoo import architecture, build
    from regbench.train import autocast_dtype, objective

    shape, batch = tuple(data["shape"]), settings["batch_size"]
    torch.manual_seed(0)
    network = build(model, data["dims"], **architecture(settings)).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=settings["lr"], amsgrad=True)
    similarity = similarity_loss(settings["similarity"], data["dims"], settings.get("lncc_window", 9))
    amp = autocast_dtype(settings, device)
    images = [torch.rand(batch, 1, *shape, device=device) for _ in range(2)]

    def step():
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss, _, _ = objective(
                network, *images, similarity, settings["lambda"], settings.get("loss_mult", 1.0)
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    with devices.measure(device) as costs:
        for _ in range(steps):
            step()
    network.eval()
    with torch.no_grad(), devices.measure(device) as registration:
        network.predict(images[1][:1], images[0][:1])
    return costs["runtime_s"] / steps, registration["runtime_s"], costs["peak_memory_mb"]


def measure_method(name: str, settings: dict, pairs: Pairs, seed: int = 0) -> tuple[float, float, float]:
    """A method's start-up, seconds per pair and peak memory (MB) on one pair."""
    import torch

    from regbench import device as devices

    record = registry.method(name)
    tick = time.perf_counter()
    if record.prepare:
        registry.resolve(record.prepare, name)(settings)
    prepare = time.perf_counter() - tick
    register = registry.resolve(record.register, name)
    with devices.measure(torch.device("cpu")) as costs:
        register(pairs.fixed, pairs.moving, pairs.spacing, settings, seed)
    return prepare, costs["runtime_s"], costs["peak_memory_mb"]


def measure_evaluation(pairs: Pairs, settings: dict) -> float:
    """Seconds to score one pair (its fields: a smooth random displacement)."""
    from scipy import ndimage

    from regbench.evaluate import pair_metrics

    rng = np.random.default_rng(1)
    disp = np.stack(
        [ndimage.gaussian_filter(rng.normal(size=pairs.fixed.shape), 4) * 10 for _ in pairs.spacing]
    )
    manifest = pairs.manifest or _SyntheticManifest(pairs)
    tick = time.perf_counter()
    pair_metrics(manifest, manifest.pairs[0], disp.astype(np.float32), settings)
    return time.perf_counter() - tick


class _SyntheticManifest:
    """Enough of a manifest for one evaluation of a synthetic pair (4 labels)."""

    def __init__(self, pairs: Pairs):
        self.pairs_data = pairs
        self.labels = {k: f"label {k}" for k in range(1, 5)}
        self.spacing = pairs.spacing
        self.pairs = [{"id": "pair-000", "fixed": "a", "moving": "b"}]

    def label_map(self, subject):
        image = self.pairs_data.fixed if subject == "a" else self.pairs_data.moving
        return np.digitize(image, np.quantile(image, [0.2, 0.4, 0.6, 0.8])).astype(np.int16)

    def image(self, subject):
        return self.pairs_data.fixed if subject == "a" else self.pairs_data.moving

    def mask(self, subject):
        return None

    def landmarks(self, pair):
        return None

    def true_displacement(self, pair):
        return None


def _pairs_in_job(config: dict, job: Job) -> int:
    name = job.wildcards.get("task", "")
    count = study_config.pair_count(config, name)
    if count is None:
        manifest = Path(f"results/{name}/data/manifest.json")
        count = len(yaml.safe_load(manifest.read_text())["pairs"]) if manifest.exists() else 1
    part = re.fullmatch(r"\.part(\d+)of(\d+)", job.wildcards.get("part", ""))
    if not part:
        return count
    k, n = int(part[1]), int(part[2])
    return count * k // n - count * (k - 1) // n


def estimate(
    paths: list[str], device: str = "auto", steps: int = 3, progress=print
) -> tuple[dict, list[Job]]:
    """Measure what the study's jobs need and give every job of its DAG a duration and peak."""
    import torch

    from regbench import device as devices
    from regbench.analysis import figures, stats

    config = load_config(paths)
    dev = devices.select(device, announce=False)
    jobs = plan(paths)
    progress(f"{len(jobs)} jobs planned; measuring on {dev}")
    start = startup_seconds(STARTUP_IMPORTS)
    analysis_start = startup_seconds(ANALYSIS_IMPORTS)
    measured: dict = {"startup_s": start, "device": str(dev)}
    train_threads = config["resources"]["train"]["threads"]
    for task in config["tasks"]:
        data = config["task_settings"][task]["data"]
        pairs = Pairs(task, data)
        progress(f"{task}: {pairs.source}")
        for model in study_config.models(config):
            settings = study_config.training_settings(config, task, model)
            if dev.type == "cpu":
                torch.set_num_threads(train_threads)
            step, pair, peak = measure_training(model, task, settings, data, dev, steps)
            measured[(task, "train", model)] = (step, pair, peak)
            progress(f"  {model}: {step:.3f} s per step, {pair:.3f} s per pair, peak {peak:.0f} MB")
        torch.set_num_threads(max(1, torch.get_num_threads()))
        for name in config["baselines"]:
            if data["dims"] not in registry.method(name).dims:
                continue
            settings = study_config.method_settings(config, task, name)
            measured[(task, "method", name)] = measure_method(name, settings, pairs)
            progress(f"  {name}: {measured[(task, 'method', name)][1]:.2f} s per pair")
        evaluation = config["task_settings"][task]["evaluation"]
        measured[(task, "evaluate")] = measure_evaluation(pairs, evaluation)
        if data["source"] == "demo":  # synthesised here, so measured like the rest
            from regbench.data import demo

            with tempfile.TemporaryDirectory() as folder:
                tick = time.perf_counter()
                demo.prepare(data, config["seeds"][0], folder, task)
                measured[(task, "prepare")] = start + time.perf_counter() - tick
    # the statistics and figures of a table of the study's size
    import pandas as pd

    methods = [*config["baselines"], *study_config.models(config)] * len(config["seeds"])
    table = pd.DataFrame(
        [
            dict(task="t", method=m, seed=0, pair_id=f"p{i}", dice=np.random.rand())
            for m in methods
            for i in range(40)
        ]
    )
    tick = time.perf_counter()
    stats.compare(table, baseline=methods[0], n_boot=config["analysis"]["bootstrap"])
    with tempfile.TemporaryDirectory() as folder:
        figures.metrics_figure(table, Path(folder) / "m.png", methods[0])
    measured["aggregate_s"] = analysis_start + 4 * (time.perf_counter() - tick)
    for job in jobs:
        _assign(job, config, measured)
    return measured, jobs


def _assign(job: Job, config: dict, measured: dict) -> None:
    """A job's duration (start-up + measured work) and peak memory."""
    start, task = measured["startup_s"], study_config.base_task(job.wildcards.get("task", ""))
    rule = job.rule
    if rule in TRAINING_RULES:
        settings = config["task_settings"][task]["training"]
        step, pair, job.peak_mb = measured[(task, "train", job.wildcards["model"])]
        val = settings.get("val_every", 0)
        validations = (settings["iterations"] // val + 2) * settings.get("val_pairs", 4) if val else 0
        job.seconds = start + settings["iterations"] * step + validations * 2 * pair
    elif rule == "register_model":
        step, pair, peak = measured[(task, "train", job.wildcards["model"])]
        job.seconds, job.peak_mb = start + _pairs_in_job(config, job) * pair, peak
    elif rule == "register_method":
        prepare, pair, job.peak_mb = measured[(task, "method", job.wildcards["registered"])]
        job.seconds = start + prepare + _pairs_in_job(config, job) * pair
    elif rule == "evaluate":
        job.seconds = start + _pairs_in_job(config, job) * measured[(task, "evaluate")]
    elif rule.startswith("aggregate") or rule in ("leaderboard", "training_curves"):
        job.seconds = measured["aggregate_s"]
    elif rule == "prepare_data" and (task, "prepare") in measured:
        job.seconds = measured[(task, "prepare")]
    elif rule in ("fetch_dataset", "prepare_data", "prepare_eval", "prepare_stress") and not _demo(
        config, job
    ):
        job.seconds, job.measured = 0.0, False
    else:  # the demo's synthesis, λ selection, the import of external fields: a job's start-up
        job.seconds = start


def _demo(config: dict, job: Job) -> bool:
    task = job.wildcards.get("task")
    return (
        task is not None and study_config.data_settings(config, task.split("/stress/")[0])["source"] == "demo"
    )


def _needs_gpu(job: Job, device: str) -> bool:
    return device.startswith("cuda") and int(job.resources.get("gpu", 0)) > 0


def schedule(jobs: list[Job], gpus: int, cores: int | None, device: str) -> float:
    """The wall time (s) of the DAG, longest ready job first: with ``cores``, every job on this
    machine's cores (each takes its threads); else GPU jobs on ``gpus`` devices and CPU jobs beside them."""
    remaining = {k: set(job.deps) for k, job in enumerate(jobs)}
    running, done, now = [], set(), 0.0
    free = {"cores": cores or math.inf, "gpus": gpus}

    def need(job):
        if cores:
            return "cores", min(job.threads, cores)
        return ("gpus", 1) if _needs_gpu(job, device) else ("cores", 0)

    while len(done) < len(jobs):
        ready = sorted((k for k, deps in remaining.items() if not deps), key=lambda k: -jobs[k].seconds)
        for k in ready:
            pool, amount = need(jobs[k])
            if free[pool] >= amount:
                free[pool] -= amount
                running.append((now + jobs[k].seconds, k))
                del remaining[k]
        if not running:
            raise RuntimeError("the DAG cannot be scheduled (a job needs more than the machine has)")
        running.sort()
        now, k = running.pop(0)
        pool, amount = need(jobs[k])
        free[pool] += amount
        done.add(k)
        for deps in remaining.values():
            deps.discard(k)
    return now


def asked_mb(job: Job) -> float:
    return float(job.resources.get("mem_mb", "nan"))


def setting_of(job: Job) -> str:
    if job.rule in TRAINING_RULES:
        return "resources.train.mem_mb"
    if job.rule == "register_model":
        return "resources.register.mem_mb"
    if job.rule == "register_method":
        return f"resources.{job.wildcards['registered']}.mem_mb"
    return "resources.evaluate.mem_mb"


def report(jobs: list[Job], gpus: int, device: str) -> str:
    import pandas as pd

    rows = pd.DataFrame(
        [
            dict(
                task=study_config.base_task(j.wildcards.get("task", "study")),
                kind=j.rule,
                hours=j.seconds / 3600,
                peak_mb=j.peak_mb,
                asked_mb=asked_mb(j),
                measured=j.measured,
                device="gpu" if _needs_gpu(j, device) else "cpu",
            )
            for j in jobs
        ]
    )
    grouped = rows.groupby(["task", "kind", "device"], sort=False).agg(
        jobs=("hours", "size"),
        hours=("hours", "sum"),
        peak_mb=("peak_mb", "max"),
        asked_mb=("asked_mb", "max"),
        measured=("measured", "all"),
    )
    lines = [f"{'task':<14} {'job':<18} {'on':<4} {'jobs':>5} {'hours':>9} {'peak MB':>9} {'asks MB':>9}"]
    for (task, kind, where), r in grouped.iterrows():
        hours = f"{r['hours']:9.3f}" if r["measured"] else "      n/m"
        peak = "" if math.isnan(r["peak_mb"]) else f"{r['peak_mb']:9.0f}"
        asked = "" if math.isnan(r["asked_mb"]) else f"{r['asked_mb']:9.0f}"
        lines.append(f"{task:<14} {kind:<18} {where:<4} {r['jobs']:5d} {hours} {peak:>9} {asked:>9}")
    over = [j for j in jobs if not math.isnan(j.peak_mb) and j.peak_mb > asked_mb(j)]
    for job in over:
        label = ", ".join(f"{k}={v}" for k, v in job.wildcards.items() if v)
        sizes = f"peaks at {job.peak_mb:.0f} MB, asks {asked_mb(job):.0f}"
        lines.append(f"EXCEEDS: {job.rule} ({label}) {sizes}: raise {setting_of(job)}")
    lines.append("n/m: not measured (downloads and preparation of registered datasets)")
    return "\n".join(lines)


def measured_seconds(benchmarks: list[Path]) -> float:
    """The wall seconds Snakemake's benchmark files recorded (the ``s`` column, summed)."""
    import pandas as pd

    return float(sum(pd.read_csv(path, sep="\t")["s"].sum() for path in benchmarks))
