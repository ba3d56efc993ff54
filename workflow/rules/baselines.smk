rule register_identity:
    input:
        manifest="results/{task}/data/manifest.json",
    output:
        fields=temp_unless_kept("results/{task}/fields/identity.npz"),
    log:
        "results/{task}/logs/register/identity.log",
    conda:
        ENV
    shell:
        "python -m regbench register --manifest {input.manifest} --method identity "
        "--out {output.fields} > {log} 2>&1"


rule register_ants:
    input:
        manifest="results/{task}/data/manifest.json",
    output:
        fields=temp_unless_kept("results/{task}/fields/ants-seed{seed}{part}.npz"),
    params:
        settings=lambda w: settings_json(w.task, "ants"),
        part=lambda w: part_option(w.part),
    log:
        "results/{task}/logs/register/ants-seed{seed}{part}.log",
    benchmark:
        "results/{task}/benchmarks/ants-seed{seed}{part}.tsv"
    threads: 1  # ANTs is bit-reproducible only single-threaded
    resources:
        mem_mb=config["resources"]["ants"]["mem_mb"],
        runtime=config["resources"]["ants"]["runtime"],
    conda:
        ENV
    shell:
        "python -m regbench register --manifest {input.manifest} --method ants "
        "--settings {params.settings:q} --seed {wildcards.seed} {params.part} --out {output.fields} "
        "> {log} 2>&1"
