localrules:
    fetch_dataset,  # downloads run where the workflow runs: cluster nodes often have no internet


rule fetch_dataset:
    output:
        f"{DATA_ROOT}/{{dataset}}/regbench-verified.json",
    params:
        data_root=lambda w, output: Path(output[0]).parent.parent,
        override=lambda w: dataset_override(w.dataset),
    log:
        f"{DATA_ROOT}/{{dataset}}/fetch.log",
    conda:
        ENV
    shell:
        "python -m regbench data fetch {wildcards.dataset} --data-root {params.data_root:q} {params.override} "
        "> {log:q} 2>&1"


rule prepare_data:
    wildcard_constraints:
        task=BASE_TASK,
    input:
        lambda w: dataset_stamp(w.task),
    output:
        manifest="results/{task}/data/manifest.json",
    params:
        settings=lambda w: data_json(w.task),
        seed=config["seeds"][0],
        data_root=DATA_ROOT,
    log:
        "results/{task}/logs/prepare_data.log",
    conda:
        ENV
    shell:
        "python -m regbench prepare --task {wildcards.task} --settings {params.settings:q} "
        "--seed {params.seed} --out results/{wildcards.task}/data --data-root {params.data_root:q} > {log} 2>&1"


rule prepare_evaluation_set:
    wildcard_constraints:
        task=BASE_TASK,
    input:
        lambda w: dataset_stamp(f"{w.task}/eval/{w.name}"),
    output:
        manifest="results/{task}/eval/{name}/data/manifest.json",
    params:
        settings=lambda w: data_json(f"{w.task}/eval/{w.name}"),
        seed=config["seeds"][0],
        data_root=DATA_ROOT,
    log:
        "results/{task}/eval/{name}/logs/prepare_data.log",
    conda:
        ENV
    shell:
        "python -m regbench prepare --task {wildcards.task}/eval/{wildcards.name} --evaluation-only "
        "--settings {params.settings:q} --seed {params.seed} --out results/{wildcards.task}/eval/{wildcards.name}/data "
        "--data-root {params.data_root:q} > {log} 2>&1"


rule prepare_stress:
    wildcard_constraints:
        task=BASE_TASK,
    input:
        manifest="results/{task}/data/manifest.json",
    output:
        manifest="results/{task}/stress/{mode}/data/manifest.json",
    params:
        settings=lambda w: settings_json(w.task, "stress"),
    log:
        "results/{task}/stress/{mode}/logs/prepare_stress.log",
    conda:
        ENV
    shell:
        "python -m regbench prepare-stress --manifest {input.manifest} --mode {wildcards.mode} "
        "--settings {params.settings:q} --task {wildcards.task}/stress/{wildcards.mode} "
        "--out results/{wildcards.task}/stress/{wildcards.mode}/data > {log} 2>&1"
