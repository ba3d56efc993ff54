# `make demo` runs the embedded demo study end to end; `make test` runs the tests.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# torch==2.13.0 is the CPU build; one pip call so the resolver sees every constraint. The
# example plugin goes in too: the tests run it through the tiny study beside the built-ins.
TORCH := torch==2.13.0
PLUGIN := examples/regbench-example-plugin

.PHONY: demo tables summary test install lint clean slurm-profile

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml $(PLUGIN)/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH) -e '.[test]' -e $(PLUGIN)
	touch $@

install: $(VENV)/.installed

demo: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --cores all
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --report results/report.html
	@echo
	@$(MAKE) --no-print-directory summary

# statistics, tables, figures and the report again from results/*/{metrics,timing,previews,data}
tables: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --cores all --config from_cache=true
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --config from_cache=true --report results/report.html
	@$(MAKE) --no-print-directory summary

summary:
	@echo
	@echo "Tables:   results/*/tables/summary.{md,tex,csv}, comparison.csv, per_pair.csv"
	@echo "Figures:  results/*/figures/{metrics,heatmap,cost,qualitative,training}.{png,pdf}"
	@echo "Study:    results/study/disentangling.{md,csv,png}, leaderboard.{md,csv}"
	@echo "Page:     results/leaderboard.html (the leaderboards, sortable, with the figures)"
	@echo "Budget:   results/*/budget/summary.md, curves.{png,csv} (accuracy against training iterations)"
	@echo "Stress:   results/*/stress/summary.{md,csv}, curves.{png,pdf}"
	@echo "Report:   results/report.html"
	@cat results/*/tables/summary.md results/study/disentangling.md $(wildcard results/*/stress/summary.md) \
		$(wildcard results/*/budget/summary.md) results/study/leaderboard.md

test: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q --durations=15

lint: install
	$(BIN)/ruff check src tests tools
	$(BIN)/ruff format --check src tests tools
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --lint

# `make slurm-profile PARTITION=gpu ACCOUNT=mylab [GPU_MODEL=a100] [STATUS=squeue]`, once:
# fills them in profiles/slurm/config.yaml, which `snakemake --profile slurm` reads (./slurm)
slurm-profile: install
	$(BIN)/regbench slurm-profile $(if $(PARTITION),--partition $(PARTITION)) \
		$(if $(ACCOUNT),--account $(ACCOUNT)) $(if $(GPU_MODEL),--gpu-model $(GPU_MODEL)) \
		$(if $(STATUS),--status-command $(STATUS))

clean:
	rm -rf results .snakemake
