# Every method of the registry that registers without training (identity, ants, plugins'):
# one rule, the method's record gives its seeding and threads.
rule register_method:
    wildcard_constraints:
        registered="|".join(map(re.escape, REGISTERED)),
        seeded=r"(-seed\d+)?",
    input:
        manifest="results/{task}/data/manifest.json",
    output:
        fields=temp_unless_kept("results/{task}/fields/{registered}{seeded}{part}.npz"),
    params:
        settings=lambda w: json.dumps(
            regbench_config.method_settings(config, base_task(w.task), w.registered), sort_keys=True
        ),
        seed=lambda w: seed_option(w.seeded),
        part=lambda w: part_option(w.part),
    log:
        "results/{task}/logs/register/{registered}{seeded}{part}.log",
    benchmark:
        "results/{task}/benchmarks/{registered}{seeded}{part}.tsv"
    threads: lambda w: REGISTERED[w.registered].threads
    resources:
        mem_mb=lambda w: method_resources(w.registered)["mem_mb"],
        runtime=lambda w: method_resources(w.registered)["runtime"],
        gpu=lambda w: method_resources(w.registered).get("gpu", 0),
    conda:
        ENV
    shell:
        "python -m regbench register --manifest {input.manifest} --method {wildcards.registered} "
        "--settings {params.settings:q} {params.seed} {params.part} --out {output.fields} > {log} 2>&1"


if EXTERNAL:

    # fields made elsewhere (task_settings.<task>.external), read in the Learn2Reg layout
    rule import_external_fields:
        wildcard_constraints:
            task=BASE_TASK,
            external="|".join(map(re.escape, sorted(EXTERNAL))),
        input:
            manifest="results/{task}/data/manifest.json",
            # the folder's field files: replacing, adding or removing one rescores this method
            fields=lambda w: field_files(config["task_settings"][w.task]["external"][w.external]["folder"]),
        output:
            fields=temp_unless_kept("results/{task}/fields/{external}{part}.npz"),
        params:
            settings=lambda w: json.dumps(config["task_settings"][w.task]["external"][w.external], sort_keys=True),
            part=lambda w: part_option(w.part),
        log:
            "results/{task}/logs/register/{external}{part}.log",
        conda:
            ENV
        shell:
            "python -m regbench import-fields --manifest {input.manifest} --settings {params.settings:q} "
            "{params.part} --out {output.fields} > {log} 2>&1"
