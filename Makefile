# synoploss: `make demo` runs the main job on the embedded data; `make test` runs the tests.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test demo figures clean-demo

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests

demo: $(STAMP)
	bash scripts/demo.sh

figures: $(STAMP)
	$(PY) -m synoploss.notebook GeneratePlots.ipynb

clean-demo:
	rm -rf demo_output
