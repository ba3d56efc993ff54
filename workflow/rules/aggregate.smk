localrules:
    aggregate,
    aggregate_study,
    aggregate_stress,
    aggregate_budget,
    leaderboard,


rule aggregate:
    input:
        manifest="results/{task}/data/manifest.json",
        metrics=lambda w: expand("results/{task}/metrics/{part}.csv", task=w.task, part=evaluated(w.task)),
        timings=lambda w: expand("results/{task}/timing/{part}.csv", task=w.task, part=evaluated(w.task)),
        # one preview per method: its first job's
        previews=lambda w: [f"results/{w.task}/previews/{parts(w.task, m)[0]}.npz" for m in methods(w.task)],
        # the λ each model got, where the task chooses it (training.lambda_grid)
        lambdas=lambda w: lambda_selections(w.task),
    output:
        pairs="results/{task}/tables/per_pair.csv",
        comparison="results/{task}/tables/comparison.csv",
        table=report(
            "results/{task}/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            subcategory="{task}",
        ),
        markdown="results/{task}/tables/summary.md",
        latex="results/{task}/tables/summary.tex",
        metrics=figure("metrics"),
        heatmap=figure("heatmap"),
        cost=figure("cost"),
        qualitative=figure("qualitative"),
        pdfs=expand("results/{{task}}/figures/{name}.pdf", name=["metrics", "heatmap", "cost", "qualitative"]),
    params:
        settings=lambda w: aggregate_settings(w.task),
    log:
        "results/{task}/logs/aggregate.log",
    conda:
        ENV
    shell:
        "python -m regbench aggregate --manifest {input.manifest} --metrics {input.metrics} "
        "--timings {input.timings} --previews {input.previews} --lambdas {input.lambdas} "
        "--settings {params.settings:q} --out results/{wildcards.task} > {log} 2>&1"


rule aggregate_study:
    input:
        expand("results/{task}/tables/per_pair.csv", task=scored_sets()),
    output:
        summary=report(
            f"results/{STUDY}/disentangling.csv",
            caption="../report/disentangling.rst",
            category="Study",
        ),
        contrasts=f"results/{STUDY}/contrasts.csv",
        markdown=f"results/{STUDY}/disentangling.md",
        figure=report(
            f"results/{STUDY}/disentangling.png",
            caption="../report/disentangling.rst",
            category="Study",
        ),
        pdf=f"results/{STUDY}/disentangling.pdf",
    params:
        settings=json.dumps(config["analysis"], sort_keys=True),
    log:
        f"results/{STUDY}/logs/aggregate_study.log",
    conda:
        ENV
    shell:
        "python -m regbench aggregate-study --per-pair {input} --settings {params.settings:q} "
        f"--out results/{STUDY} > {{log}} 2>&1"


rule aggregate_stress:
    wildcard_constraints:
        task=BASE_TASK,
    input:
        manifests=lambda w: [f"results/{s}/data/manifest.json" for s in stress_sets(w.task)],
        metrics=lambda w: [f"results/{s}/metrics/{part}.csv" for s in stress_sets(w.task) for part in evaluated(s)],
    output:
        summary=report(
            "results/{task}/stress/summary.csv",
            caption="../report/stress_summary.rst",
            category="Stress tests",
            subcategory="{task}",
        ),
        markdown="results/{task}/stress/summary.md",
        curves=report(
            "results/{task}/stress/curves.png",
            caption="../report/stress_curves.rst",
            category="Stress tests",
            subcategory="{task}",
        ),
        pdf="results/{task}/stress/curves.pdf",
    params:
        settings=lambda w: stress_settings(w.task),
    log:
        "results/{task}/stress/logs/aggregate_stress.log",
    conda:
        ENV
    shell:
        "python -m regbench aggregate-stress --manifests {input.manifests} --metrics {input.metrics} "
        "--settings {params.settings:q} --out results/{wildcards.task}/stress > {log} 2>&1"


# accuracy against training length: the snapshots of the same runs, beside the final models
rule aggregate_budget:
    wildcard_constraints:
        task=BASE_TASK,
    input:
        per_pair="results/{task}/tables/per_pair.csv",
        metrics=lambda w: expand(
            "results/{task}/metrics/{part}.csv", task=w.task, part=evaluated(w.task, snapshot_methods(w.task))
        ),
    output:
        markdown="results/{task}/budget/summary.md",
        curves=report(
            "results/{task}/budget/curves.csv",
            caption="../report/budget.rst",
            category="Training budget",
            subcategory="{task}",
        ),
        effects="results/{task}/budget/effects.csv",
        figure=report(
            "results/{task}/budget/curves.png",
            caption="../report/budget.rst",
            category="Training budget",
            subcategory="{task}",
        ),
        pdf="results/{task}/budget/curves.pdf",
    params:
        settings=lambda w: budget_settings(w.task),
    log:
        "results/{task}/logs/aggregate_budget.log",
    conda:
        ENV
    shell:
        "python -m regbench aggregate-budget --per-pair {input.per_pair} --metrics {input.metrics} "
        "--settings {params.settings:q} --out results/{wildcards.task}/budget > {log} 2>&1"


# the Learn2Reg ranking over every task and evaluation set, and the results page
rule leaderboard:
    input:
        per_pair=expand("results/{task}/tables/per_pair.csv", task=scored_sets()),
        summaries=expand("results/{task}/tables/summary.csv", task=scored_sets()),
        figures=page_figures(),
    output:
        csv=f"results/{STUDY}/leaderboard.csv",
        tasks=f"results/{STUDY}/leaderboard_tasks.csv",
        markdown=f"results/{STUDY}/leaderboard.md",
        page=report("results/leaderboard.html", caption="../report/leaderboard.rst", category="Leaderboard"),
    params:
        settings=json.dumps(dict(config["analysis"], study=config["study"]), sort_keys=True),
    log:
        f"results/{STUDY}/logs/leaderboard.log",
    conda:
        ENV
    shell:
        "python -m regbench leaderboard --per-pair {input.per_pair} --summaries {input.summaries} "
        "--figures {input.figures} --settings {params.settings:q} --out $(dirname {output.csv}) "
        "--page {output.page} > {log} 2>&1"
