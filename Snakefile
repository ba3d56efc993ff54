# regbench: the whole benchmark as one DAG. Logic lives in src/regbench; rules only call it.
from snakemake.utils import min_version

min_version("9.19")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


# from_cache: only the aggregate rules, so nothing upstream of results/**/metrics can be scheduled
if not config["from_cache"]:

    include: "workflow/rules/data.smk"
    include: "workflow/rules/train.smk"
    include: "workflow/rules/methods.smk"
    include: "workflow/rules/evaluate.smk"


include: "workflow/rules/aggregate.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
