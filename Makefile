# synoploss: `make demo` runs the main job on the embedded data; `make test` runs the tests.
# The newest supported Python that runs here (3.13, 3.12, 3.11; scripts/find_python.sh);
# `make test PYTHON=python3.12` picks another, VENV=... another environment folder.
PYTHON ?= $(shell sh scripts/find_python.sh newest)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output
STUDY_DIR ?= study_output
REPORT_DIR ?= $(STUDY_DIR)
# make study's training seeds: MNIST-DVS and MNIST, and CIFAR-10
SEEDS ?= 1 2 3 4 5
CIFAR_SEEDS ?= 0 1 2

.PHONY: help setup test lint docs demo demo-cifar study report figures clean-demo

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

setup: $(STAMP)  ## create .venv/ with the pinned requirements and the package

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lint: $(STAMP)  ## ruff on the whole tree (pyproject.toml's rules)
	$(PY) -m ruff check .

test: $(STAMP) lint  ## the linter, the test suite (the ten slowest printed), the GPU tests' dry run
	$(PY) -m pytest tests --durations=10
	@# tests/test_gpu.py with the CPU on both sides: proves the comparisons execute
	SYNOPLOSS_GPU_DRY_RUN=1 $(PY) -m pytest tests/test_gpu.py -q

docs: $(STAMP)  ## the HTML site with the API reference from the docstrings: docs_site/index.html
	$(PY) -m mkdocs build --strict

demo: $(STAMP)  ## MNIST-DVS and MNIST on the stand-in data, then the figures (its time: DEMO_DIR/run_info.json)
	@start=$$(date +%s); PY=$(PY) DEMO_DIR=$(DEMO_DIR) bash scripts/demo.sh && \
	$(MAKE) --no-print-directory figures DEMO_DIR=$(DEMO_DIR) && \
	$(PY) scripts/run_info.py $(DEMO_DIR) "make demo (one seed)" "make demo" $$(( $$(date +%s) - start ))

demo-cifar: $(STAMP)  ## the CIFAR-10 stand-in stage, then every figure again
	PY=$(PY) DEMO_DIR=$(DEMO_DIR) DEMO_STAGES=cifar10 bash scripts/demo.sh
	$(MAKE) --no-print-directory figures DEMO_DIR=$(DEMO_DIR)

study: $(STAMP)  ## the demo's protocol over seeds with CIFAR-10, then docs/results.md (its time: on that page)
	@start=$$(date +%s); PY=$(PY) DEMO_DIR=$(STUDY_DIR) SEEDS="$(SEEDS)" CIFAR_SEEDS="$(CIFAR_SEEDS)" \
	CIFAR_ROUND_EPOCHS=30 CIFAR_SYNOP_LOSS_WEIGHT=10 \
	DEMO_STAGES="mnist_dvs mnist_quant_only cifar10" bash scripts/demo.sh && \
	$(MAKE) --no-print-directory figures DEMO_DIR=$(STUDY_DIR) && \
	$(PY) scripts/run_info.py $(STUDY_DIR) "make study ($(words $(SEEDS)) seeds, CIFAR-10 $(words $(CIFAR_SEEDS)))" "make study" $$(( $$(date +%s) - start )) && \
	$(PY) benchmarks/spiking_throughput.py --mnist_dvs_dir $(STUDY_DIR)/mnist_dvs \
	  --cifar_dir $(STUDY_DIR)/cifar10 --out $(STUDY_DIR)/benchmarks/spiking_throughput.csv && \
	$(MAKE) --no-print-directory report REPORT_DIR=$(STUDY_DIR)

report: $(STAMP)  ## docs/results.md and the README's headline from REPORT_DIR (default study_output)
	$(PY) -m synoploss.reporting.report $(REPORT_DIR)

# the notebook run headless on the demo's results; figures go to $(DEMO_DIR)/figures
figures: $(STAMP)  ## the notebook, headless, on DEMO_DIR's results
	$(PY) -m synoploss.reporting.notebook GeneratePlots.ipynb \
	  -p MNIST_DVS_DIR=$(DEMO_DIR)/mnist_dvs -p MNIST_DVS_DATA=$(DEMO_DIR)/mnist_dvs/data \
	  -p CIFAR10_DIR=$(DEMO_DIR)/cifar10 -p MNIST_QUANT_DIR=$(DEMO_DIR)/mnist_quant_only \
	  -p FIGURE_DIR=$(DEMO_DIR)/figures

clean-demo:  ## remove DEMO_DIR
	rm -rf $(DEMO_DIR)
