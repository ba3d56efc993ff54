rule prepare_data:
    wildcard_constraints:
        task=BASE_TASK,
    output:
        manifest="results/{task}/data/manifest.json",
    params:
        settings=lambda w: settings_json(w.task, "data"),
        seed=config["seeds"][0],
    log:
        "results/{task}/logs/prepare_data.log",
    conda:
        ENV
    shell:
        "python -m regbench prepare --task {wildcards.task} --settings {params.settings:q} "
        "--seed {params.seed} --out results/{wildcards.task}/data > {log} 2>&1"


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
