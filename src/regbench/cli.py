"""``regbench <stage> ...``: one subcommand per pipeline stage, called by the Snakemake rules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from regbench import registry


def _json(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--settings is not valid JSON: {err}") from None


def _part(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--part {text!r}: expected K/N, e.g. 2/5") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--part {text!r}: expected 1 <= K <= N")
    return k, n


def _prepare(a):
    from regbench.data import sources

    sources.prepare(a.settings, a.seed, a.out, a.task, a.data_root, a.evaluation_only)


def _data_status(a):
    from regbench.data import fetch, registry

    print(f"{'dataset':<14} {'access':<7} status ({a.data_root})")
    for name, dataset in registry.load().items():
        print(f"{name:<14} {dataset.access:<7} {fetch.status(dataset, a.data_root)}")


def _data_fetch(a):
    from dataclasses import replace

    from regbench.data import fetch, registry

    dataset = registry.get(a.dataset)
    files = None
    if a.url:
        if len(dataset.files) != 1:
            raise ValueError(
                f"dataset {a.dataset!r}: --url replaces a single file, it has {len(dataset.files)}"
            )
        files = [replace(dataset.files[0], url=a.url, sha256=a.sha256, md5=a.md5, size=None)]
    print(f"{a.dataset}: complete ({fetch.fetch(dataset, a.data_root, files)})")


def _prepare_stress(a):
    from regbench.data import stress

    stress.prepare(a.manifest, a.mode, a.settings, a.out, a.task)


def _train(a):
    from regbench.train import train

    train(
        a.manifest,
        a.model,
        a.settings,
        a.seed,
        a.out,
        a.log,
        a.device,
        a.threads,
        a.data_workers,
        a.val_log,
        tuple(a.snapshots),
    )


def _select_lambda(a):
    from regbench.selection import write_selection

    runs = {}
    for folder in map(Path, a.runs):
        runs.setdefault(float(folder.name.removeprefix("lambda")), []).append(folder)
    selection = write_selection(runs, a.max_folding, a.out)
    print(f"λ = {selection['selected']:g} ({selection['criterion']}; bound met: {selection['bound_met']})")


def _use_lambda(a):
    from regbench.selection import use_selected

    use_selected(a.selection, a.seed_folder, a.out)


def _register(a):
    from regbench import register

    if a.method != registry.MODEL:
        register.register_method(a.manifest, a.method, a.settings, a.seed, a.out, a.part)
    else:
        register.register_model(a.manifest, a.model_file, a.out, a.device, a.threads, a.part, a.iteration)


def _import_fields(a):
    from regbench.external import import_fields

    import_fields(a.manifest, a.settings, a.out, a.part)


def _export(a):
    from regbench.external import export_fields

    written = export_fields(a.manifest, a.fields, a.out, a.format, a.force)
    layout = f"disp_<fixed>_<moving>{a.format}: voxels, into the moving image"
    print(f"wrote {len(written)} fields under {a.out} ({layout})")


def _evaluate(a):
    from regbench.evaluate import evaluate

    evaluate(a.manifest, a.fields, a.method, a.seed, a.out, a.timing, a.preview, a.settings)


def _aggregate(a):
    from regbench.analysis.aggregate import aggregate_task

    print(aggregate_task(a.manifest, a.metrics, a.timings, a.previews, a.out, a.settings, a.lambdas))


def _training_curves(a):
    from regbench.analysis.figures import training_figure

    training_figure([Path(run) for run in a.runs], a.out)


def _aggregate_study(a):
    from regbench.analysis.aggregate import aggregate_study

    print(aggregate_study(a.per_pair, a.out, a.settings))


def _aggregate_budget(a):
    from regbench.analysis.budget import aggregate_budget

    print(aggregate_budget(a.per_pair, a.metrics, a.settings, a.out))


def _leaderboard(a):
    from regbench.analysis.aggregate import aggregate_leaderboard

    print(aggregate_leaderboard(a.per_pair, a.summaries, a.figures, a.out, a.page, a.settings))


def _aggregate_stress(a):
    from regbench.analysis.stress import aggregate_stress

    print(aggregate_stress(a.manifests, a.metrics, a.out, a.settings))


def _merge(a):
    from regbench.merge import merge

    for name, count in merge(a.runs, a.out).items():
        print(f"{name}: {count} method files")
    print(f"merged into {a.out}/results; rebuild its tables, ranking and page with:")
    print(f"  snakemake --cores all --directory {a.out} --configfile <study config> --config from_cache=true")


def _record(a):
    from regbench.analysis.record import record

    for path in record(a.results, a.tasks, a.config, a.out):
        print(path)


def _task_models(names, task: str, config_path: str) -> None:
    """Each model as the task of a study config builds it: parameters and architecture settings."""
    import yaml

    from regbench.config import training_settings
    from regbench.models.swin import DEFAULT_WINDOW
    from regbench.models.zoo import ITERATIONS, architecture, build, parameter_count
    from regbench.names import parse

    config = yaml.safe_load(Path(config_path).read_text())
    if task not in config.get("task_settings", {}):
        raise SystemExit(
            f"{config_path}: no task {task!r} (tasks: {', '.join(config.get('task_settings', {}))})"
        )
    ndim = config["task_settings"][task]["data"]["dims"]
    print(f"{task} ({ndim}D) in {config_path}")
    print(f"{'model':<14} {'paper':<11} {'params':>12}  architecture")
    for name, paper in names:
        built, spec = architecture(training_settings(config, task, name)), parse(name)
        shown = []
        if spec.record.name == "swin":
            shown.append("window " + "×".join(map(str, built["window"] or DEFAULT_WINDOW[ndim])))
        if spec.iterative:
            shown.append("iterations " + "-".join(map(str, built["pyramid_iterations"] or ITERATIONS)))
        if spec.correlation and built["normalise_correlation"]:
            shown.append("unit-vector correlation")
        count = parameter_count(build(name, ndim, **built))
        print(f"{name:<14} {paper:<11} {count:>12,}  {', '.join(shown)}")


def _models(a):
    from regbench.models.zoo import PRESETS, build, parameter_count
    from regbench.names import aliases, grid

    paper = {v: k for k, v in aliases().items()}
    plugins = [r.name for r in registry.backbones().values() if r.plugin]
    names = [(name, paper.get(name, "")) for name in (grid() if a.grid else [*PRESETS, *plugins])]
    if a.task:
        _task_models(names, a.task, a.config)
    else:
        print(f"{'model':<14} {'paper':<11} {'params 2D':>12} {'params 3D':>12}")
        for name, alias in names:
            counts = [parameter_count(build(name, ndim)) for ndim in (2, 3)]
            print(f"{name:<14} {alias:<11} {counts[0]:>12,} {counts[1]:>12,}")
    print("\nbackbones:")
    for record in registry.backbones().values():
        print(
            f"  {record.name:<12} {record.description}"
            + (f" [plugin {record.plugin}]" if record.plugin else "")
        )
    print("methods without training:")
    for record in registry.methods().values():
        print(
            f"  {record.name:<12} {record.description}"
            + (f" [plugin {record.plugin}]" if record.plugin else "")
        )


def _doctor(a) -> int:
    from regbench import doctor

    checks = doctor.run(a.configfile, a.profile)
    print(doctor.report(checks))
    return 1 if any(c.status == doctor.FAIL for c in checks) else 0


def _cost(a) -> None:
    import os

    from regbench import cost

    measured, jobs = cost.estimate(a.configfile, a.device, a.iterations)
    device = measured["device"]
    cores = a.cores or os.cpu_count() if device == "cpu" else None  # a CPU study runs on this machine
    print(cost.report(jobs, a.gpus, device))
    hours = sum(job.seconds for job in jobs) / 3600
    walls = {n: cost.schedule(jobs, n, cores, device) / 3600 for n in sorted({1, a.gpus})}
    where = f"{cores} cores" if cores else "GPUs"
    for n, wall in walls.items():
        print(f"wall time on {n} {'device' if cores else 'GPU'}{'s' * (n > 1)} ({where}): {wall:.2f} h")
    ratio = "n/a"
    if a.measured_wall:
        ratio = f"{walls[1] * 3600 / a.measured_wall:.2f}"
        print(f"measured: {a.measured_wall:.0f} s; predicted {walls[1] * 3600:.0f} s")
    print(
        f"jobs={len(jobs)} device_hours={hours:.3f} wall_h_at_1={walls[1]:.3f} predicted_vs_measured={ratio}"
    )


def _slurm_profile(a):
    from regbench import cluster

    values = dict(
        partition=a.partition, account=a.account, gpu_model=a.gpu_model, status_command=a.status_command
    )
    path = cluster.install(a.template, a.dest or Path(a.template).parent, **values)
    print(f"wrote {path}: run `snakemake --profile slurm` from the checkout")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="regbench", description=__doc__)
    sub = p.add_subparsers(dest="stage", required=True)

    s = sub.add_parser("prepare", help="prepare a task's data and pair manifest")
    s.add_argument("--task", required=True)
    s.add_argument("--settings", type=_json, required=True, help="the task's data settings (JSON)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="output folder (manifest.json is written last)")
    s.add_argument("--data-root", default="resources", help="where datasets are downloaded")
    s.add_argument(
        "--evaluation-only", action="store_true", help="an evaluation set: every subject is a test subject"
    )
    s.set_defaults(run=_prepare)

    data = sub.add_parser("data", help="the registered public datasets").add_subparsers(
        dest="data_command", required=True
    )
    s = data.add_parser("status", help="per registered dataset: present / missing / checksum mismatch")
    s.add_argument("--data-root", default="resources")
    s.set_defaults(run=_data_status)

    s = data.add_parser("fetch", help="download (or check, when gated), verify and extract a dataset")
    s.add_argument("dataset")
    s.add_argument("--data-root", default="resources")
    s.add_argument("--url", help="another URL for the dataset's archive (needs --sha256 or --md5)")
    s.add_argument("--sha256")
    s.add_argument("--md5")
    s.set_defaults(run=_data_fetch)

    s = sub.add_parser("prepare-stress", help="a stressed evaluation set of a prepared task")
    s.add_argument("--manifest", required=True, help="the prepared task's manifest")
    s.add_argument("--mode", required=True, choices=["translation", "svf"])
    s.add_argument("--settings", type=_json, required=True, help="the task's stress settings (JSON)")
    s.add_argument("--task", required=True, help="name of the stressed set")
    s.add_argument("--out", required=True, help="output folder (manifest.json is written last)")
    s.set_defaults(run=_prepare_stress)

    s = sub.add_parser("train", help="train one model")
    s.add_argument("--manifest", required=True)
    s.add_argument("--model", required=True)
    s.add_argument("--settings", type=_json, required=True, help="training settings (JSON)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="model file to write")
    s.add_argument("--log", required=True, help="CSV training log")
    s.add_argument("--val-log", help="CSV validation log (default: val_log.csv beside --log)")
    s.add_argument("--device", default="auto")
    s.add_argument("--threads", type=int)
    s.add_argument("--data-workers", type=int, default=2, help="processes reading batches ahead (0: none)")
    s.add_argument(
        "--snapshots", type=int, nargs="*", default=[], help="iterations whose weights are kept (snapshots/)"
    )
    s.set_defaults(run=_train)

    s = sub.add_parser("select-lambda", help="choose a model's λ on its runs' validation logs")
    s.add_argument("--runs", nargs="+", required=True, help="run folders train/<model>/seed<k>/lambda<λ>")
    s.add_argument("--max-folding", type=float, required=True, help="% det J <= 0 allowed on validation")
    s.add_argument("--out", required=True, help="the selection (JSON)")
    s.set_defaults(run=_select_lambda)

    s = sub.add_parser("use-lambda", help="a seed's run at the selected λ as its model")
    s.add_argument("--selection", required=True)
    s.add_argument("--seed-folder", required=True, help="train/<model>/seed<k>")
    s.add_argument("--out", required=True, help="the model file to write (seed folder's model.pt)")
    s.set_defaults(run=_use_lambda)

    s = sub.add_parser("register", help="displacement fields for every evaluation pair")
    s.add_argument("--manifest", required=True)
    s.add_argument(
        "--method",
        required=True,
        help="a registered method (identity, ants, ...) or model (with --model-file)",
    )
    s.add_argument("--model-file")
    s.add_argument("--iteration", type=int, help="the model's snapshot at this training iteration")
    s.add_argument("--settings", type=_json, default={}, help="the method's task settings (JSON)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--device", default="auto")
    s.add_argument("--threads", type=int)
    s.add_argument("--part", type=_part, default=(1, 1), help="only part K of N of the pairs (K/N)")
    s.set_defaults(run=_register)

    s = sub.add_parser("import-fields", help="an external method's fields (Learn2Reg layout) as a field file")
    s.add_argument("--manifest", required=True)
    s.add_argument(
        "--settings",
        type=_json,
        required=True,
        help="JSON: folder, units (voxel/mm), points_into (moving/fixed)",
    )
    s.add_argument("--out", required=True)
    s.add_argument("--part", type=_part, default=(1, 1), help="only part K of N of the pairs (K/N)")
    s.set_defaults(run=_import_fields)

    s = sub.add_parser("export", help="a field file's fields in the Learn2Reg layout, one file per pair")
    s.add_argument("--manifest", required=True)
    s.add_argument("--fields", required=True, help="results/<task>/fields/<method>.npz (keep_fields: true)")
    s.add_argument("--out", required=True, help="folder for disp_<fixed>_<moving> files")
    s.add_argument("--format", choices=[".nii.gz", ".npz"], default=".nii.gz")
    s.add_argument("--force", action="store_true", help="replace the field files of a folder that has some")
    s.set_defaults(run=_export)

    s = sub.add_parser("evaluate", help="per-pair metrics of one method")
    s.add_argument("--manifest", required=True)
    s.add_argument("--fields", required=True)
    s.add_argument("--method", required=True)
    s.add_argument("--seed", type=int)
    s.add_argument("--out", required=True, help="metric rows (CSV)")
    s.add_argument("--timing", required=True, help="runtime rows (CSV)")
    s.add_argument("--preview", required=True, help="first pair's warped image and field (npz)")
    s.add_argument(
        "--settings", type=_json, required=True, help="the task's evaluation settings (JSON, defaults filled)"
    )
    s.set_defaults(run=_evaluate)

    s = sub.add_parser("aggregate", help="tables and figures of one task")
    s.add_argument("--manifest", required=True)
    s.add_argument("--metrics", nargs="+", required=True)
    s.add_argument("--timings", nargs="+", required=True)
    s.add_argument("--previews", nargs="+", required=True)
    s.add_argument("--lambdas", nargs="*", default=[], help="train/<model>/lambda.json: each model's λ")
    s.add_argument("--settings", type=_json, required=True, help="analysis settings (JSON)")
    s.add_argument("--out", required=True, help="the task's results folder (writes tables/, figures/)")
    s.set_defaults(run=_aggregate)

    s = sub.add_parser("training-curves", help="training loss and validation curves of a task's networks")
    s.add_argument("--runs", nargs="+", required=True, help="training run folders (train/<model>/seed<k>)")
    s.add_argument("--out", required=True, help="PNG to write (and a PDF beside it)")
    s.set_defaults(run=_training_curves)

    s = sub.add_parser("aggregate-study", help="backbone vs design disentangling over every task")
    s.add_argument("--per-pair", nargs="+", required=True, help="every task's tables/per_pair.csv")
    s.add_argument("--settings", type=_json, required=True, help="analysis settings (JSON)")
    s.add_argument("--out", required=True, help="the study's results folder")
    s.set_defaults(run=_aggregate_study)

    s = sub.add_parser("aggregate-budget", help="accuracy and effects against training length (snapshots)")
    s.add_argument("--per-pair", required=True, help="the task's tables/per_pair.csv (the final models)")
    s.add_argument("--metrics", nargs="+", required=True, help="the snapshots' metric files")
    s.add_argument(
        "--settings", type=_json, required=True, help="analysis settings, primary_metric, iterations (JSON)"
    )
    s.add_argument("--out", required=True, help="output folder (results/<task>/budget)")
    s.set_defaults(run=_aggregate_budget)

    s = sub.add_parser("leaderboard", help="the Learn2Reg ranking of every method and the results page")
    s.add_argument("--per-pair", nargs="+", required=True, help="every task's tables/per_pair.csv")
    s.add_argument("--summaries", nargs="+", required=True, help="every task's tables/summary.csv")
    s.add_argument("--figures", nargs="*", default=[], help="PNGs to embed in the page")
    s.add_argument("--settings", type=_json, required=True, help="analysis settings and study name (JSON)")
    s.add_argument("--out", required=True, help="folder of leaderboard.{md,csv} (results/study)")
    s.add_argument("--page", required=True, help="the HTML page to write (results/leaderboard.html)")
    s.set_defaults(run=_leaderboard)

    s = sub.add_parser("aggregate-stress", help="stress curves and breakdown table of one task")
    s.add_argument("--manifests", nargs="+", required=True, help="the stressed sets' manifests")
    s.add_argument("--metrics", nargs="+", required=True, help="their metric files")
    s.add_argument("--settings", type=_json, required=True, help="primary_metric, breakdown_fraction (JSON)")
    s.add_argument("--out", required=True, help="output folder")
    s.set_defaults(run=_aggregate_stress)

    s = sub.add_parser(
        "merge", help="join the results of several runs of one study (same pairs) into one folder"
    )
    s.add_argument("runs", nargs="+", help="working directories (or their results/ folders) of the runs")
    s.add_argument("--out", required=True, help="folder for the merged results/ (rebuilt with from_cache)")
    s.set_defaults(run=_merge)

    s = sub.add_parser("record", help="gather a finished study's small outputs into one folder to commit")
    s.add_argument("--results", default="results", help="the study's results folder")
    s.add_argument("--tasks", nargs="+", required=True)
    s.add_argument("--config", required=True, help="the study's config file (copied as config.yaml)")
    s.add_argument("--out", required=True, help="e.g. docs/results/<study>")
    s.set_defaults(run=_record)

    s = sub.add_parser(
        "models", help="list the paper's presets (or the whole grid) with parameter counts in 2D and 3D"
    )
    s.add_argument("--grid", action="store_true", help="every backbone × design-set cell")
    s.add_argument("--task", help="as this task of --config builds them (its dimension, window, iterations)")
    s.add_argument("--config", default="config/paper.yaml", help="the study config of --task")
    s.set_defaults(run=_models)

    s = sub.add_parser(
        "doctor", help="check this installation for a study: torch/CUDA, kernels, baselines, data, SLURM"
    )
    s.add_argument("--configfile", help="the study config whose needs weigh the checks")
    s.add_argument("--profile", default="profiles/slurm/config.yaml", help="the SLURM profile to check")
    s.set_defaults(run=_doctor)

    s = sub.add_parser(
        "cost", help="measure a study's jobs here and predict its device-hours, memory and wall time"
    )
    s.add_argument(
        "--configfile", nargs="+", required=True, help="the study's config files (as for snakemake)"
    )
    s.add_argument("--device", default="auto", help="where to measure: cpu, cuda (auto: CUDA when present)")
    s.add_argument(
        "--iterations", type=int, default=3, help="training steps timed per model (after a warm-up)"
    )
    s.add_argument("--gpus", type=int, default=1, help="also the wall time on this many GPUs")
    s.add_argument("--cores", type=int, help="a CPU study's cores (default: this machine's)")
    s.add_argument(
        "--measured-wall", type=float, help="seconds a real run took, to set the prediction beside"
    )
    s.set_defaults(run=_cost)

    s = sub.add_parser("slurm-profile", help="fill in the SLURM profile that `--profile slurm` reads")
    s.add_argument("--template", default="profiles/slurm/config.yaml")
    s.add_argument("--dest", help="profile folder (default: the template's, which ./slurm links to)")
    s.add_argument("--partition", help="SLURM partition for every job (default: the cluster's)")
    s.add_argument("--account", help="SLURM account to charge")
    s.add_argument("--gpu-model", help="GPU type for training and learned registration (--gpus=MODEL:1)")
    s.add_argument(
        "--status-command", choices=["sacct", "squeue"], help="squeue where there is no accounting"
    )
    s.set_defaults(run=_slurm_profile)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.stage == "register" and args.method == registry.MODEL and not args.model_file:
        parser().error("register: a model method needs --model-file")
    if args.stage == "data" and getattr(args, "url", None) and not (args.sha256 or args.md5):
        parser().error("data fetch: --url needs --sha256 or --md5")
    try:
        return args.run(args) or 0
    except (ValueError, FileNotFoundError, RuntimeError, KeyError) as err:
        print(f"regbench {args.stage}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
