localrules:
    aggregate,


rule aggregate:
    input:
        manifest="results/{task}/data/manifest.json",
        metrics=lambda w: expand("results/{task}/metrics/{part}.csv", task=w.task, part=evaluated(w.task)),
        timings=lambda w: expand("results/{task}/timing/{part}.csv", task=w.task, part=evaluated(w.task)),
        # one preview per method: its first job's
        previews=lambda w: [f"results/{w.task}/previews/{parts(w.task, m)[0]}.npz" for m in methods()],
    output:
        pairs="results/{task}/tables/per_pair.csv",
        table=report(
            "results/{task}/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            subcategory="{task}",
        ),
        markdown="results/{task}/tables/summary.md",
        dice=report(
            "results/{task}/figures/dice.png",
            caption="../report/dice.rst",
            category="Figures",
            subcategory="{task}",
        ),
        qualitative=report(
            "results/{task}/figures/qualitative.png",
            caption="../report/qualitative.rst",
            category="Figures",
            subcategory="{task}",
        ),
    log:
        "results/{task}/logs/aggregate.log",
    conda:
        ENV
    shell:
        "python -m regbench aggregate --manifest {input.manifest} --metrics {input.metrics} "
        "--timings {input.timings} --previews {input.previews} --out {output.pairs} "
        "{output.table} {output.markdown} {output.dice} {output.qualitative} > {log} 2>&1"
