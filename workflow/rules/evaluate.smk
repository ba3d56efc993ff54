rule evaluate:
    input:
        manifest="results/{task}/data/manifest.json",
        fields="results/{task}/fields/{method}.npz",
    output:
        metrics="results/{task}/metrics/{method}.csv",
        timing="results/{task}/timing/{method}.csv",
        preview="results/{task}/previews/{method}.npz",
    params:
        settings=lambda w: settings_json(w.task, "evaluation"),
        name=lambda w: method_name(w.method),
        seed=lambda w: seed_option(w.method),
    log:
        "results/{task}/logs/evaluate/{method}.log",
    benchmark:
        "results/{task}/benchmarks/evaluate/{method}.tsv"
    resources:
        mem_mb=config["resources"]["evaluate"]["mem_mb"],
        runtime=config["resources"]["evaluate"]["runtime"],
    conda:
        ENV
    shell:
        "python -m regbench evaluate --manifest {input.manifest} --fields {input.fields} "
        "--method {params.name} {params.seed} --out {output.metrics} "
        "--timing {output.timing} --preview {output.preview} --settings {params.settings:q} > {log} 2>&1"
