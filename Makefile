# synoploss: `make demo` runs the main job on the embedded data; `make test` runs the tests.
# The newest supported Python that runs here (3.13, 3.12, 3.11; scripts/find_python.sh);
# `make test PYTHON=python3.12` picks another, VENV=... another environment folder.
PYTHON ?= $(shell sh scripts/find_python.sh newest)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output

.PHONY: setup test demo demo-cifar figures clean-demo

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests

# MNIST-DVS and MNIST quantization only (about 15 minutes on 2 cores)
demo: $(STAMP)
	DEMO_DIR=$(DEMO_DIR) bash scripts/demo.sh
	$(MAKE) --no-print-directory figures DEMO_DIR=$(DEMO_DIR)

# the CIFAR-10 stand-in stage (about 9 minutes on 2 cores), then every figure again
demo-cifar: $(STAMP)
	DEMO_DIR=$(DEMO_DIR) DEMO_STAGES=cifar10 bash scripts/demo.sh
	$(MAKE) --no-print-directory figures DEMO_DIR=$(DEMO_DIR)

# the notebook run headless on the demo's results; figures go to $(DEMO_DIR)/figures
figures: $(STAMP)
	$(PY) -m synoploss.notebook GeneratePlots.ipynb \
	  -p MNIST_DVS_DIR=$(DEMO_DIR)/mnist_dvs -p MNIST_DVS_DATA=$(DEMO_DIR)/mnist_dvs/data \
	  -p CIFAR10_DIR=$(DEMO_DIR)/cifar10 -p MNIST_QUANT_DIR=$(DEMO_DIR)/mnist_quant_only \
	  -p FIGURE_DIR=$(DEMO_DIR)/figures

clean-demo:
	rm -rf $(DEMO_DIR)
