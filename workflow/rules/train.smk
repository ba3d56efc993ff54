rule train:
    wildcard_constraints:
        task=ONE_LAMBDA_TASK,
    input:
        manifest="results/{task}/data/manifest.json",
    output:
        # update(): a rerun (`--forcerun train`) keeps the previous model until training writes
        # the new one, so a killed rerun leaves the model that the existing tables came from
        model=update("results/{task}/train/{model}/seed{seed}/model.pt"),
    params:
        settings=lambda w: training_json(w.task, w.model),
        device=config["device"],
        # given as derived from the output, so that it is no rerun trigger: the snapshot list
        # changes which weights are kept, never the network, and changing it retrains nothing
        snapshots=lambda w, output: snapshot_option(w.task),
        # the training and validation logs (CSV) beside the model, which Snakemake leaves alone: a
        # rule's log is deleted when its job starts, and a killed rerun keeps the previous model
        run=lambda w, output: os.path.dirname(output.model),
    log:
        "results/{task}/train/{model}/seed{seed}/train.log",
    benchmark:
        "results/{task}/benchmarks/train/{model}-seed{seed}.tsv"
    threads: config["resources"]["train"]["threads"]
    resources:
        gpu=config["resources"]["train"]["gpu"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
        # a resource, not a setting: how the images are read changes no result, so no retraining
        data_workers=config["resources"]["train"]["data_workers"],
    conda:
        ENV
    shell:
        "python -m regbench train --manifest {input.manifest} --model {wildcards.model} "
        "--settings {params.settings:q} --seed {wildcards.seed} --out {output.model} "
        "--log {params.run}/train_log.csv --val-log {params.run}/val_log.csv --device {params.device} "
        "--threads {threads} --data-workers {resources.data_workers} {params.snapshots} 2>&1 | tee {log}"


# training.lambda_grid: every model trains once per λ (train/<model>/seed<k>/lambda<λ>/); the λ
# chosen on the validation logs (select_lambda) is copied to train/<model>/seed<k>/ (use_lambda)
use rule train as train_lambda with:
    wildcard_constraints:
        task=GRID_TASK,
    output:
        model=update("results/{task}/train/{model}/seed{seed}/lambda{lam}/model.pt"),
    params:
        settings=lambda w: training_json(w.task, w.model, w.lam),
        device=config["device"],
        snapshots=lambda w, output: snapshot_option(w.task),
        run=lambda w, output: os.path.dirname(output.model),
    log:
        "results/{task}/train/{model}/seed{seed}/lambda{lam}/train.log",
    benchmark:
        "results/{task}/benchmarks/train/{model}-seed{seed}-lambda{lam}.tsv"


localrules:
    select_lambda,
    use_lambda,


rule select_lambda:
    wildcard_constraints:
        task=GRID_TASK,
    input:
        # every seed's run at every λ: only their validation logs are read
        models=lambda w: expand(
            "results/{task}/train/{model}/seed{seed}/lambda{lam}/model.pt",
            task=w.task,
            model=w.model,
            seed=SEEDS,
            lam=regbench_config.lambda_grid(config, w.task),
        ),
    output:
        "results/{task}/train/{model}/lambda.json",
    params:
        runs=lambda w, input: [os.path.dirname(path) for path in input.models],
        bound=lambda w: task_settings(w.task, "training")["lambda_max_folding_pct"],
    log:
        "results/{task}/logs/select_lambda/{model}.log",
    conda:
        ENV
    shell:
        "python -m regbench select-lambda --runs {params.runs} --max-folding {params.bound} "
        "--out {output} > {log} 2>&1"


rule use_lambda:
    wildcard_constraints:
        task=GRID_TASK,
    input:
        selection="results/{task}/train/{model}/lambda.json",
        models=lambda w: expand(
            "results/{task}/train/{model}/seed{seed}/lambda{lam}/model.pt",
            task=w.task,
            model=w.model,
            seed=w.seed,
            lam=regbench_config.lambda_grid(config, w.task),
        ),
    output:
        model="results/{task}/train/{model}/seed{seed}/model.pt",
    log:
        "results/{task}/logs/use_lambda/{model}-seed{seed}.log",
    conda:
        ENV
    shell:
        "python -m regbench use-lambda --selection {input.selection} --seed-folder $(dirname {output.model}) "
        "--out {output.model} > {log} 2>&1"


# a trained model, or its snapshot (``{at}``: @<iteration>) from the same training run
rule register_model:
    input:
        manifest="results/{task}/data/manifest.json",
        # a stressed set is registered by the models trained on its task
        model=lambda w: f"results/{base_task(w.task)}/train/{w.model}/seed{w.seed}/model.pt",
    output:
        fields=temp_unless_kept("results/{task}/fields/{model}{at}-seed{seed}{part}.npz"),
    params:
        device=config["device"],
        part=lambda w: part_option(w.part),
        iteration=lambda w: f"--iteration {w.at[1:]}" if w.at else "",
    log:
        "results/{task}/logs/register/{model}{at}-seed{seed}{part}.log",
    benchmark:
        "results/{task}/benchmarks/register/{model}{at}-seed{seed}{part}.tsv"
    threads: config["resources"]["register"]["threads"]
    resources:
        gpu=config["resources"]["register"]["gpu"],
        mem_mb=config["resources"]["register"]["mem_mb"],
        runtime=config["resources"]["register"]["runtime"],
    conda:
        ENV
    shell:
        "python -m regbench register --manifest {input.manifest} --method model "
        "--model-file {input.model} {params.iteration} {params.part} --out {output.fields} "
        "--device {params.device} --threads {threads} > {log} 2>&1"


localrules:
    training_curves,


rule training_curves:
    wildcard_constraints:
        task=BASE_TASK,
    input:
        # the finished models: their training and validation logs are complete
        models=lambda w: expand("results/{task}/train/{model}/seed{seed}/model.pt", task=w.task, model=MODELS, seed=SEEDS),
    output:
        figure=figure("training"),
        pdf="results/{task}/figures/training.pdf",
    params:
        runs=lambda w, input: [os.path.dirname(path) for path in input.models],
    log:
        "results/{task}/logs/training_curves.log",
    conda:
        ENV
    shell:
        "python -m regbench training-curves --runs {params.runs} --out {output.figure} > {log} 2>&1"
