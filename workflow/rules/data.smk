rule prepare_data:
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
